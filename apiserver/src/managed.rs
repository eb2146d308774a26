//! Field management and schema-aware request handling: `managedFields` bookkeeping, strict /
//! warn field validation of bodies, strategic merge patch and server-side apply. The
//! algorithms live in `schema`, `fieldvalidation`, `patch` and `apply`; this module adapts them
//! to requests.

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::Value;

use crate::api::Api;
use crate::apply::{self, Writer};
use crate::error::{ApiError, ApiResult};
use crate::fieldvalidation::{self, BodyFormat, Directive, Outcome};
use crate::handlers::write::Actor;
use crate::handlers::{render, to_stored};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::patch::StatusInfo;
use crate::registry::ResourceDef;
use crate::schema::{Gvk, SchemaIndex, TypeRef};

/// Runs `f` with the schema type of `def`'s objects (untyped when none is known).
pub fn with_type<R>(def: &ResourceDef, f: impl FnOnce(&TypeRef<'_>) -> R) -> R {
    if let Some(idx) = def.crd.as_ref().and_then(|c| c.schema_index.as_ref()) {
        if let Some(t) = idx.root() {
            return f(&t);
        }
    } else if let Ok(idx) = SchemaIndex::builtin()
        && let Some(t) = idx.type_for_gvk(&Gvk::new(&def.group, &def.version, &def.kind))
    {
        return f(&t);
    }
    f(&TypeRef::untyped())
}

/// A `StatusInfo` from the field-management modules as an API error.
pub fn status_error(si: StatusInfo) -> ApiError {
    let mut e = match si.code {
        400 => ApiError::bad_request(si.message.clone()),
        409 => ApiError::conflict(Default::default(), ""),
        413 => ApiError::too_large(crate::http::MAX_BODY),
        415 => ApiError::unsupported_media_type(""),
        _ => ApiError::internal(""),
    };
    e.code = si.code;
    e.reason = if si.reason.is_empty() {
        "InternalError"
    } else {
        si.reason
    };
    e.message = si.message;
    if !si.causes.is_empty() {
        let causes: Vec<Value> = si
            .causes
            .iter()
            .map(
                |c| serde_json::json!({"reason": c.reason, "message": c.message, "field": c.field}),
            )
            .collect();
        e.details = Some(Box::new(serde_json::json!({"causes": causes})));
    }
    e
}

/// The `fieldValidation` directive of a request.
pub fn directive(r: &Req) -> ApiResult<Directive> {
    Directive::from_query(r.q("fieldValidation")).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Decodes a create/update body (JSON, YAML or protobuf) against the kind's schema, applying
/// `fieldValidation`: unknown or duplicate fields are dropped, rejected (Strict) or reported as
/// `Warning` headers (Warn).
pub async fn decode_request(r: &mut Req, def: &ResourceDef) -> ApiResult<(Value, Vec<String>)> {
    let ct = r
        .header("content-type")
        .unwrap_or("application/json")
        .to_string();
    let media = ct.split(';').next().unwrap_or_default().trim().to_string();
    let bytes = r.bytes().await?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("request body is empty"));
    }
    if media == "application/vnd.kubernetes.protobuf" {
        let api_version = def.api_version();
        let v = crate::protobuf::decode_with_defaults(&bytes, Some((&api_version, &def.kind)))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        return Ok((v, Vec::new()));
    }
    let format = match media.as_str() {
        "application/json" | "" | "*/*" => BodyFormat::Json,
        "application/yaml" | "application/x-yaml" | "text/yaml" => BodyFormat::Yaml,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    let dir = directive(r)?;
    let check_types = def.crd.is_none();
    let decoded = with_type(def, |t| {
        fieldvalidation::decode_body(&bytes, format, t, check_types)
    })
    .map_err(|e| status_error(e.status(&def.kind, &def.version)))?;
    if !decoded.value.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    match dir.outcome(&decoded.strict_errors, &def.kind, &def.version) {
        Outcome::Proceed { warnings } => Ok((decoded.value, warnings)),
        Outcome::Reject(si) => Err(status_error(si)),
    }
}

/// Validation of a patched object against the schema (`fieldValidation` for patches).
pub fn validate_patched(
    r: &Req,
    def: &ResourceDef,
    patched: &mut Value,
    patch_text: &str,
) -> ApiResult<Vec<String>> {
    let dir = directive(r)?;
    let errors = with_type(def, |t| fieldvalidation::prune_unknown_fields(patched, t));
    match dir.patch_outcome(&errors, patch_text) {
        Outcome::Proceed { warnings } => Ok(warnings),
        Outcome::Reject(si) => Err(status_error(si)),
    }
}

/// Fields a write through `subresource` does not own.
fn reset_fields(def: &ResourceDef, subresource: Option<&str>) -> &'static [&'static str] {
    match subresource {
        Some("status") => &["spec", "metadata"],
        Some(_) => &[],
        None if def.has_status => &["status"],
        None => &[],
    }
}

/// Records the writer of a create/update in `managedFields` (operation `Update`).
pub fn record_update(
    def: &ResourceDef,
    actor: &Actor,
    old: Option<&Value>,
    new: &mut Value,
    subresource: Option<&str>,
) {
    if actor.applying {
        return;
    }
    let api_version = def.api_version();
    let writer = Writer {
        manager: &actor.manager,
        api_version: &api_version,
        subresource,
        reset_fields: reset_fields(def, subresource),
        now: jiff::Timestamp::now(),
    };
    let res = with_type(def, |t| apply::update_managed_fields(old, new, t, &writer));
    if let Err(e) = res {
        tracing::debug!(error = %e, "managedFields of the previous object were unreadable; starting afresh");
        if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        let _ = with_type(def, |t| apply::update_managed_fields(None, new, t, &writer));
    }
}

/// Strategic merge patch of a built-in object.
pub fn strategic(def: &ResourceDef, current: &Value, body: &[u8]) -> ApiResult<Value> {
    let patch: Value = serde_json::from_slice(body)
        .or_else(|_| serde_yaml::from_slice(body))
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    with_type(def, |t| {
        crate::patch::strategic_merge_patch(current, &patch, t)
    })
    .map_err(|e| status_error(e.status()))
}

fn apply_config(body: &[u8]) -> ApiResult<Value> {
    let v: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "apply configuration must be an object",
        ));
    }
    Ok(v)
}

fn apply_writer<'a>(
    r: &'a Req,
    def: &ResourceDef,
    api_version: &'a str,
    sub: Option<&'a str>,
) -> ApiResult<Writer<'a>> {
    let manager = r
        .q("fieldManager")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::bad_request("PATCH, application/apply-patch+yaml requests must have the fieldManager query parameter set"))?;
    Ok(Writer {
        manager,
        api_version,
        subresource: sub,
        reset_fields: reset_fields(def, sub),
        now: jiff::Timestamp::now(),
    })
}

/// Server-side apply onto an existing object.
pub fn apply_existing(
    def: &ResourceDef,
    r: &Req,
    current: &Value,
    body: &[u8],
    sub: Option<&str>,
) -> ApiResult<Value> {
    let config = apply_config(body)?;
    check_apply_identity(def, r, &config)?;
    let api_version = def.api_version();
    let writer = apply_writer(r, def, &api_version, sub)?;
    let force = r.flag("force");
    with_type(def, |t| {
        apply::apply(Some(current), &config, t, &writer, force)
    })
    .map_err(|e| status_error(e.status()))
}

fn check_apply_identity(def: &ResourceDef, r: &Req, config: &Value) -> ApiResult<()> {
    let kind = config
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let av = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != def.kind || av != def.api_version() {
        return Err(ApiError::bad_request(format!(
            "the apiVersion and kind of the apply configuration ({av}, {kind}) must match the endpoint ({}, {})",
            def.api_version(),
            def.kind
        )));
    }
    let name = crate::meta::name(config);
    if !name.is_empty() && Some(name) != r.info.name.as_deref() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            r.info.name.as_deref().unwrap_or_default()
        )));
    }
    Ok(())
}

/// Server-side apply creating the object.
pub async fn apply_create(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &Req,
    body: &[u8],
    dry_run: bool,
) -> ApiResult<Response<Body>> {
    let mut config = apply_config(body)?;
    check_apply_identity(def, r, &config)?;
    if let Some(n) = r.info.name.as_deref() {
        crate::meta::meta_mut(&mut config).insert("name".into(), Value::String(n.to_string()));
    }
    let api_version = def.api_version();
    let writer = apply_writer(r, def, &api_version, None)?;
    let applied = with_type(def, |t| {
        apply::apply(None, &config, t, &writer, r.flag("force"))
    })
    .map_err(|e| status_error(e.status()))?;
    let ns = r.info.namespace.clone().unwrap_or_default();
    let mut obj = crate::handlers::write::prepare_new(
        api,
        def,
        &ns,
        applied,
        crate::handlers::write::Checked::No,
        crate::kinds::Origin::Client,
    )?;
    let actor = Actor {
        applying: true,
        ..Actor::of(r)
    };
    let ctx = crate::kinds::Ctx {
        api,
        def,
        user: &actor.user,
        dry_run,
    };
    crate::kinds::admit_create(&ctx, &mut obj)?;
    if dry_run {
        return Ok(response::object(StatusCode::CREATED, &obj, r.enc));
    }
    let stored = to_stored(def, obj);
    let name = crate::meta::name(&stored).to_string();
    let committed = api
        .store
        .commit(
            &def.storage,
            &ns,
            &name,
            crate::store::Expect::Absent,
            Some(stored.clone()),
            &def.field_paths(),
        )
        .map_err(|e| {
            crate::kinds::released(api, def, &stored);
            crate::handlers::write::store_error(def, &name, e)
        })?;
    api.after_write(def, None, Some(&stored));
    crate::handlers::write::durable(api, committed.rv).await?;
    Ok(response::encoded_bytes(
        StatusCode::CREATED,
        render(def, &committed.object),
        r.enc,
    ))
}
