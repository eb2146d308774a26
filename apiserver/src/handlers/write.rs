//! create, update and patch (main resource and `status`).

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::{render, to_served, to_stored};
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Cause, Target};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::kinds::{self, Ctx, Origin};
use crate::meta;
use crate::registry::ResourceDef;
use crate::store::{Expect, StoreError};

/// Who writes: the user and the field manager recorded in `managedFields`.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The authenticated user.
    pub user: crate::auth::User,
    /// The field manager (`fieldManager` parameter, or derived from the user agent).
    pub manager: String,
    /// Whether the write is a server-side apply (which records its own managed fields).
    pub applying: bool,
}

impl Actor {
    /// The actor of a request.
    pub fn of(r: &Req) -> Self {
        let manager = r
            .q("fieldManager")
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| {
                let ua = r.header("user-agent").unwrap_or("unknown");
                ua.split('/')
                    .next()
                    .unwrap_or(ua)
                    .chars()
                    .take(128)
                    .collect()
            });
        Actor {
            user: r.user.clone(),
            manager,
            applying: false,
        }
    }

    /// An in-process control loop.
    pub fn system(manager: &str) -> Self {
        Actor {
            user: crate::auth::User::new(
                &format!("system:{manager}"),
                "",
                ["system:masters".to_string()],
            ),
            manager: manager.to_string(),
            applying: false,
        }
    }
}

/// Most attempts of an unconditional update/patch racing other writers.
const MAX_RETRIES: usize = 16;

fn target<'a>(def: &'a ResourceDef, name: &'a str) -> Target<'a> {
    Target {
        group: &def.group,
        resource: &def.resource,
        name,
    }
}

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

/// Checks or fills the namespace of a body against the request path.
fn check_namespace(def: &ResourceDef, path_ns: &str, obj: &mut Value) -> ApiResult<()> {
    let meta = meta::meta_mut(obj);
    if !def.namespaced {
        meta.remove("namespace");
        return Ok(());
    }
    match meta.get("namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() && ns != path_ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            meta.insert("namespace".into(), json!(path_ns));
            Ok(())
        }
    }
}

/// Namespace admission: it must exist and not be terminating.
fn check_namespace_lifecycle(api: &Api, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<()> {
    if !def.namespaced || (def.group.is_empty() && def.kind == "Event") {
        return Ok(());
    }
    match api
        .store
        .get("/namespaces", "", ns)
        .and_then(|o| o.value().ok())
    {
        None => Err(ApiError::not_found(Target {
            group: "",
            resource: "namespaces",
            name: ns,
        })),
        Some(n) if kinds::namespace::is_terminating(&n) => {
            Err(ApiError::namespace_terminating(target(def, name), ns))
        }
        Some(_) => Ok(()),
    }
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

/// Builds, defaults, validates and admits a new object (shared by create, create-on-update,
/// apply and the server's own writes, told apart by `origin`).
pub fn prepare_new(
    api: &Api,
    def: &ResourceDef,
    path_ns: &str,
    mut obj: Value,
    checked: Checked,
    origin: Origin,
) -> ApiResult<Value> {
    obj = decode(def, obj, checked)?;
    check_namespace(def, path_ns, &mut obj)?;
    let keep_status = def.group.is_empty() && def.kind == "Node";
    {
        let m = meta::meta_mut(&mut obj);
        let name = m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let generate = m
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() && !generate.is_empty() {
            m.insert(
                "name".into(),
                json!(format!("{generate}{}", kinds::pod::random_suffix())),
            );
        }
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(k);
        }
        m.insert("uid".into(), json!(meta::new_uid()));
        m.insert("creationTimestamp".into(), json!(meta::now()));
        if def.generation {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
    if def.has_status
        && !keep_status
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    kinds::apply_defaults(def, &mut obj);
    let name = meta::name(&obj).to_string();
    let mut causes = Vec::new();
    if name.is_empty() {
        causes.push(Cause::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        causes.extend(kinds::names::validate_name(
            kinds::names::rule_for(&def.group, &def.kind),
            "metadata.name",
            &name,
        ));
    }
    causes.extend(meta_causes(&obj));
    causes.extend(kinds::validate(def, None, &obj, origin));
    if !causes.is_empty() {
        return Err(ApiError::invalid(&def.kind, &def.group, &name, causes));
    }
    check_namespace_lifecycle(api, def, meta::namespace(&obj), &name)?;
    Ok(obj)
}

/// Whether a body was already decoded against its schema (types checked, unknown fields
/// handled) — request bodies and in-process objects are, patch and apply results are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Decoded against the schema already.
    Yes,
    /// Must go through typed decoding.
    No,
}

/// Typed decoding (built-ins) or schema pruning (custom resources) of a body.
fn decode(def: &ResourceDef, obj: Value, checked: Checked) -> ApiResult<Value> {
    let mut obj = match checked {
        Checked::Yes => obj,
        Checked::No => kinds::decode_typed(def, obj)?,
    };
    if let Some(schema) = def.crd.as_ref().and_then(|c| c.schema.as_ref()) {
        kinds::crd::prune_and_default(schema, &mut obj);
    }
    if def.group == "apiextensions.k8s.io" {
        kinds::crd::defaults(&mut obj);
    }
    Ok(obj)
}

/// Label/annotation validation common to every kind.
fn meta_causes(obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Err(msg) = crate::selectors::validate_label_key(k) {
                out.push(Cause::invalid("metadata.labels", &json!(k), &msg));
            }
            let val = v.as_str().unwrap_or_default();
            if let Err(msg) = crate::selectors::validate_label_value(val) {
                out.push(Cause::invalid("metadata.labels", &json!(val), &msg));
            }
        }
    }
    if let Some(ann) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        let mut total = 0;
        for (k, v) in ann {
            if let Err(msg) = crate::selectors::validate_label_key(&k.to_ascii_lowercase()) {
                out.push(Cause::invalid("metadata.annotations", &json!(k), &msg));
            }
            total += k.len() + v.as_str().map(str::len).unwrap_or(0);
        }
        if total > 256 * 1024 {
            out.push(Cause::too_long("metadata.annotations", 256 * 1024));
        }
    }
    out
}

/// POST: create.
pub async fn create(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
) -> ApiResult<Response<Body>> {
    let dry_run = is_dry_run(r)?;
    let (mut body, warnings) = crate::managed::decode_request(r, def).await?;
    check_type(def, &mut body)?;
    let ns = r.info.namespace.clone().unwrap_or_default();
    let mut obj = prepare_new(api, def, &ns, body, Checked::Yes, Origin::Client)?;
    let ctx = Ctx {
        api,
        def,
        user: &r.user,
        dry_run,
    };
    kinds::admit_create(&ctx, &mut obj)?;
    crate::managed::record_update(def, &Actor::of(r), None, &mut obj, None);
    let stored = to_stored(def, obj.clone());
    if dry_run {
        return Ok(with_warnings(
            response::object(StatusCode::CREATED, &obj, r.enc),
            &warnings,
        ));
    }
    let name = meta::name(&stored).to_string();
    let ns = meta::namespace(&stored).to_string();
    let committed = api.store.commit(
        &def.storage,
        &ns,
        &name,
        Expect::Absent,
        Some(stored.clone()),
        &def.field_paths(),
    );
    let committed = match committed {
        Ok(c) => c,
        Err(e) => {
            kinds::released(api, def, &stored);
            return Err(store_error(def, &name, e));
        }
    };
    api.after_write(def, None, Some(&stored));
    durable(api, committed.rv).await?;
    Ok(with_warnings(
        response::encoded_bytes(StatusCode::CREATED, render(def, &committed.object), r.enc),
        &warnings,
    ))
}

/// Adds `Warning` headers to a response.
pub fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        if let Ok(v) = http::HeaderValue::from_str(w) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

/// Maps store errors to API errors.
pub fn store_error(def: &ResourceDef, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::AlreadyExists => ApiError::already_exists(target(def, name)),
        StoreError::NotFound => ApiError::not_found(target(def, name)),
        StoreError::Conflict => ApiError::stale(target(def, name)),
        StoreError::Serialize(m) => ApiError::internal(m),
    }
}

/// Waits until a write is durable.
pub async fn durable(api: &Api, rv: u64) -> ApiResult<()> {
    api.store
        .wait_durable(rv)
        .await
        .map_err(|e| ApiError::internal(format!("storage: {e}")))
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
    let (mut body, warnings) = crate::managed::decode_request(r, def).await?;
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

/// Whether a PUT on a missing object creates it (upstream `AllowCreateOnUpdate`).
fn allow_create_on_update(def: &ResourceDef) -> bool {
    matches!(
        (def.group.as_str(), def.kind.as_str()),
        ("", "Endpoints")
            | ("", "Event")
            | ("coordination.k8s.io", "Lease")
            | ("events.k8s.io", "Event")
    )
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
                && allow_create_on_update(def)
                && sub.is_none()
            {
                let mut obj =
                    prepare_new(api, def, &ns, body.clone(), Checked::Yes, Origin::Client)?;
                let ctx = Ctx {
                    api,
                    def,
                    user: &r.user,
                    dry_run,
                };
                kinds::admit_create(&ctx, &mut obj)?;
                crate::managed::record_update(def, &Actor::of(r), None, &mut obj, None);
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
                        api.after_write(def, None, Some(&stored));
                        durable(api, c.rv).await?;
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
                return crate::managed::apply_create(api, def, r, body, dry_run).await;
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
                    crate::patching::apply_patch(def, r, &old, content_type, body, sub)?;
                patch_warnings = warnings;
                let pinned = meta::resource_version(&patched)
                    .filter(|rv| Some(*rv) != meta::resource_version(&old))
                    .map(str::to_string);
                (patched, pinned)
            }
        };
        let applying = matches!(&change, Change::Patch { content_type, .. } if content_type.starts_with(crate::patching::APPLY_PATCH));
        let actor = Actor {
            applying,
            ..Actor::of(r)
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
        let checked = if matches!(change, Change::Replace(_)) {
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
                if finished {
                    api.after_write(def, Some(&old_stored), None);
                } else {
                    api.after_write(def, Some(&old_stored), Some(&stored));
                }
                durable(api, c.rv).await?;
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

/// Whether a deleting object may now be removed (no finalizers left).
pub fn ready_to_remove(def: &ResourceDef, obj: &Value) -> bool {
    if !meta::finalizers(obj).is_empty() {
        return false;
    }
    !(def.group.is_empty()
        && def.kind == "Namespace"
        && !kinds::namespace::spec_finalizers(obj).is_empty())
}

/// How an update is made: through which subresource, dry or not, and whether the new object
/// was already decoded against its schema.
#[derive(Debug, Clone, Copy)]
pub struct UpdateMode<'a> {
    /// `status`, `finalize`... or the main resource.
    pub sub: Option<&'a str>,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// Whether typed decoding already happened.
    pub checked: Checked,
    /// A client request or the server's own write.
    pub origin: Origin,
}

/// Carries what updates may not change, splits status, validates and admits.
pub fn prepare_update(
    api: &Api,
    def: &ResourceDef,
    actor: &Actor,
    mode: UpdateMode<'_>,
    old: &Value,
    new: Value,
) -> ApiResult<Value> {
    let UpdateMode {
        sub,
        dry_run,
        checked,
        origin,
    } = mode;
    let name = meta::name(old).to_string();
    let mut new = decode(def, new, checked)?;
    let mut new = match sub {
        Some("status") => {
            let mut merged = old.clone();
            if let Some(o) = merged.as_object_mut() {
                match new.get("status") {
                    Some(s) => o.insert("status".into(), s.clone()),
                    None => o.remove("status"),
                };
            }
            merged
        }
        Some("finalize") => {
            let mut merged = old.clone();
            let fins = new
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(json!([]));
            if let Some(spec) = merged.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("finalizers".into(), fins);
            }
            merged
        }
        _ => {
            if def.has_status
                && let Some(o) = new.as_object_mut()
            {
                match old.get("status") {
                    Some(s) => o.insert("status".into(), s.clone()),
                    None => o.remove("status"),
                };
            }
            new.take()
        }
    };
    carry_metadata(old, &mut new);
    kinds::apply_defaults(def, &mut new);
    kinds::carry_allocated(def, old, &mut new);
    if def.generation {
        let og = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let changed = meta::spec_changed(old, &new);
        meta::meta_mut(&mut new).insert(
            "generation".into(),
            json!(if changed { og + 1 } else { og }),
        );
    }
    if def.group == "apiextensions.k8s.io" && def.kind == "CustomResourceDefinition" {
        kinds::crd::refresh_status(&mut new, Some(old));
    }
    let mut causes = meta_causes(&new);
    causes.extend(kinds::validate(def, Some(old), &new, origin));
    if meta::is_deleting(old) {
        let added: Vec<String> = meta::finalizers(&new)
            .into_iter()
            .filter(|f| !meta::finalizers(old).contains(f))
            .collect();
        if !added.is_empty() {
            causes.push(Cause::forbidden(
                "metadata.finalizers",
                &format!("no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"),
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(&def.kind, &def.group, &name, causes));
    }
    let ctx = Ctx {
        api,
        def,
        user: &actor.user,
        dry_run,
    };
    kinds::admit_update(&ctx, old, &mut new)?;
    crate::managed::record_update(def, actor, Some(old), &mut new, sub);
    Ok(new)
}

/// Metadata fields an update cannot change.
fn carry_metadata(old: &Value, new: &mut Value) {
    let om = old
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let m = meta::meta_mut(new);
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "namespace",
        "name",
        "generation",
    ] {
        match om.get(k) {
            Some(v) => m.insert(k.into(), v.clone()),
            None => m.remove(k),
        };
    }
    m.remove("resourceVersion");
    if let Some(rv) = om.get("resourceVersion") {
        m.insert("resourceVersion".into(), rv.clone());
    }
}
