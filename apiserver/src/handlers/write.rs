//! create, update and patch (main resource and `status`).

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::body::with_warnings;
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Cause};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::kinds::Origin;
use crate::meta;
use crate::registry::ResourceDef;
use crate::storage::{
    Actor, Checked, UpdateMode, admit_new_with_webhooks, commit_new, finish, prepare_new,
    prepare_update, ready_to_remove, store_error, target,
};
use crate::storage::{render, to_served, to_stored};
use crate::store::{Expect, StoreError};

/// Most attempts of an unconditional update/patch racing other writers.
const MAX_RETRIES: usize = 16;

/// Checks `apiVersion`/`kind` of a request body against the endpoint. Like the real server's
/// decoder, a body that leaves them out gets the endpoint's (clients such as the Python client
/// send bare objects).
pub fn check_type(def: &ResourceDef, obj: &mut Value) -> ApiResult<()> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            truncate(&obj.to_string())
        )));
    };
    let text = |m: &serde_json::Map<String, Value>, k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let kind = text(map, "kind");
    if kind.is_empty() {
        map.insert("kind".into(), json!(def.kind));
    } else if kind != def.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            def.kind
        )));
    }
    let api_version = text(map, "apiVersion");
    if api_version.is_empty() {
        map.insert("apiVersion".into(), json!(def.api_version()));
    } else if api_version != def.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            def.api_version()
        )));
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

fn is_dry_run(r: &Req) -> ApiResult<bool> {
    match r.q("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid dryRun value {other:?}: only \"All\" is supported"
        ))),
    }
}

/// POST: create.
pub async fn create(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
) -> ApiResult<Response<Body>> {
    let dry_run = is_dry_run(r)?;
    let (mut body, warnings) = super::body::decode_request(r, def).await?;
    check_type(def, &mut body)?;
    let ns = r.info.namespace.clone().unwrap_or_default();
    let obj = prepare_new(api, def, &ns, body, Checked::Yes, Origin::Client)?;
    let actor = super::body::actor(r);
    let (obj, hook_warnings) =
        admit_new_with_webhooks(api, def, &actor, obj, dry_run, Origin::Client).await?;
    let mut warnings = warnings;
    warnings.extend(hook_warnings);
    let stored = to_stored(def, obj.clone());
    if dry_run {
        return Ok(with_warnings(
            response::object(StatusCode::CREATED, &obj, r.enc),
            &warnings,
        ));
    }
    let committed = commit_new(api, def, &stored).await?;
    Ok(with_warnings(
        response::encoded_bytes(StatusCode::CREATED, render(def, &committed), r.enc),
        &warnings,
    ))
}

/// How an update's body is produced from the current object.
pub enum Change {
    /// A full replacement object (PUT).
    Replace(Value),
    /// A patch applied to the current object.
    Patch {
        /// Media type.
        content_type: String,
        /// Patch document.
        body: bytes::Bytes,
    },
}

/// PUT on the main resource or a subresource (`status`).
pub async fn update(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
    sub: Option<&str>,
) -> ApiResult<Response<Body>> {
    let (mut body, warnings) = super::body::decode_request(r, def).await?;
    check_type(def, &mut body)?;
    let name = r.info.name.clone().unwrap_or_default();
    let body_name = meta::name(&body).to_string();
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    meta::meta_mut(&mut body).insert("name".into(), json!(name));
    let resp = apply_change(api, def, r, sub, Change::Replace(body)).await?;
    Ok(with_warnings(resp, &warnings))
}

/// PATCH on the main resource or a subresource.
pub async fn patch(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
    sub: Option<&str>,
) -> ApiResult<Response<Body>> {
    let content_type = r.header("content-type").unwrap_or_default().to_string();
    let body = r.bytes().await?;
    apply_change(api, def, r, sub, Change::Patch { content_type, body }).await
}

/// Whether unconditional updates (no resourceVersion) are allowed (upstream: not for CRs).
fn allow_unconditional(def: &ResourceDef) -> bool {
    def.crd.is_none()
}

/// The shared update pipeline (GuaranteedUpdate): read, compute, check, commit; retried on
/// races when the client did not pin a resourceVersion.
pub async fn apply_change(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
    sub: Option<&str>,
    change: Change,
) -> ApiResult<Response<Body>> {
    let dry_run = is_dry_run(r)?;
    let name = r.info.name.clone().unwrap_or_default();
    let ns = r.info.namespace.clone().unwrap_or_default();
    for _ in 0..MAX_RETRIES {
        let Some(cur) = api.store.get(&def.storage, &ns, &name) else {
            if let Change::Replace(body) = &change
                && def.strategy.allow_create_on_update()
                && sub.is_none()
            {
                let obj = prepare_new(api, def, &ns, body.clone(), Checked::Yes, Origin::Client)?;
                let actor = super::body::actor(r);
                let (obj, _) =
                    admit_new_with_webhooks(api, def, &actor, obj, dry_run, Origin::Client).await?;
                let stored = to_stored(def, obj.clone());
                if dry_run {
                    return Ok(response::object(StatusCode::CREATED, &obj, r.enc));
                }
                match api.store.commit(
                    &def.storage,
                    &ns,
                    &name,
                    Expect::Absent,
                    Some(stored.clone()),
                    &def.field_paths(),
                ) {
                    Ok(c) => {
                        finish(api, def, None, Some(&stored), c.rv).await?;
                        return Ok(response::encoded_bytes(
                            StatusCode::CREATED,
                            render(def, &c.object),
                            r.enc,
                        ));
                    }
                    Err(StoreError::AlreadyExists) => continue,
                    Err(e) => return Err(store_error(def, &name, e)),
                }
            }
            if let Change::Patch { content_type, body } = &change
                && content_type.starts_with("application/apply-patch")
                && sub.is_none()
            {
                return super::patch::apply_create(api, def, r, body, dry_run).await;
            }
            return Err(ApiError::not_found(target(def, &name)));
        };
        let old_stored = cur.value().map_err(|e| ApiError::internal(e.to_string()))?;
        let old = to_served(def, old_stored.clone());
        let mut patch_warnings = Vec::new();
        let (mut new, pinned_rv) = match &change {
            Change::Replace(body) => {
                let pinned = meta::resource_version(body).map(str::to_string);
                (body.clone(), pinned)
            }
            Change::Patch { content_type, body } => {
                let (patched, warnings) =
                    super::patch::apply_patch(def, r, &old, content_type, body, sub)?;
                patch_warnings = warnings;
                let pinned = meta::resource_version(&patched)
                    .filter(|rv| Some(*rv) != meta::resource_version(&old))
                    .map(str::to_string);
                (patched, pinned)
            }
        };
        let applying = matches!(&change, Change::Patch { content_type, .. } if content_type.starts_with(super::patch::APPLY_PATCH));
        let actor = Actor {
            applying,
            ..super::body::actor(r)
        };
        let expect_rv = match &pinned_rv {
            Some(v) => {
                let rv: u64 = v.parse().map_err(|_| {
                    ApiError::invalid(
                        &def.kind,
                        &def.group,
                        &name,
                        vec![Cause::invalid(
                            "metadata.resourceVersion",
                            &json!(v),
                            "must be a valid resource version",
                        )],
                    )
                })?;
                if rv != cur.rv {
                    return Err(ApiError::stale(target(def, &name)));
                }
                rv
            }
            None => {
                if matches!(change, Change::Replace(_)) && !allow_unconditional(def) {
                    return Err(ApiError::invalid(
                        &def.kind,
                        &def.group,
                        &name,
                        vec![Cause::invalid(
                            "metadata.resourceVersion",
                            &json!(0),
                            "must be specified for an update",
                        )],
                    ));
                }
                cur.rv
            }
        };
        let hooks = crate::webhook::Request {
            def,
            operation: "UPDATE",
            subresource: sub,
            namespace: &ns,
            name: &name,
            user: &actor.user,
            dry_run,
            old: Some(&old),
        };
        let before = new.clone();
        patch_warnings.extend(crate::webhook::mutate(api, &hooks, &mut new).await?);
        let checked = if matches!(change, Change::Replace(_)) && new == before {
            Checked::Yes
        } else {
            Checked::No
        };
        new = prepare_update(
            api,
            def,
            &actor,
            UpdateMode {
                sub,
                dry_run,
                checked,
                origin: Origin::Client,
            },
            &old,
            new,
        )?;
        if meta::same_content(&old, &new) {
            let resp = response::encoded_bytes(StatusCode::OK, render(def, &cur), r.enc);
            return Ok(with_warnings(resp, &patch_warnings));
        }
        patch_warnings.extend(crate::webhook::validate(api, &hooks, Some(&new)).await?);
        let stored = to_stored(def, new.clone());
        if dry_run {
            return Ok(with_warnings(
                response::object(StatusCode::OK, &new, r.enc),
                &patch_warnings,
            ));
        }
        let finished = meta::is_deleting(&stored) && ready_to_remove(def, &stored);
        let res = if finished {
            api.store.commit(
                &def.storage,
                &ns,
                &name,
                Expect::Version(expect_rv),
                None,
                &def.field_paths(),
            )
        } else {
            api.store.commit(
                &def.storage,
                &ns,
                &name,
                Expect::Version(expect_rv),
                Some(stored.clone()),
                &def.field_paths(),
            )
        };
        match res {
            Ok(c) => {
                let new = (!finished).then_some(&stored);
                finish(api, def, Some(&old_stored), new, c.rv).await?;
                let resp = response::encoded_bytes(StatusCode::OK, render(def, &c.object), r.enc);
                return Ok(with_warnings(resp, &patch_warnings));
            }
            Err(StoreError::Conflict) if pinned_rv.is_none() => continue,
            Err(e) => return Err(store_error(def, &name, e)),
        }
    }
    Err(ApiError::conflict(
        target(def, &name),
        "too many concurrent updates, please retry",
    ))
}
