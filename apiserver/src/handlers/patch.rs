//! Applying PATCH bodies to the current object: JSON patch (RFC 6902), JSON merge patch
//! (RFC 7386), strategic merge patch (built-in kinds) and server-side apply, followed by
//! `fieldValidation` of the result; server-side apply creating an object.

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::Value;

use super::body::{actor, status_error, validate_patched};
use crate::api::Api;
use crate::error::{ApiError, ApiResult};
use crate::field_manager::{self, Writer};
use crate::fieldvalidation::{self, BodyFormat, Directive, StrictError};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::registry::ResourceDef;
use crate::storage::{Actor, render, reset_fields, to_stored, with_type};

/// Media types of the patch flavours.
pub const JSON_PATCH: &str = "application/json-patch+json";
/// JSON merge patch.
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// Strategic merge patch.
pub const STRATEGIC_PATCH: &str = "application/strategic-merge-patch+json";
/// Server-side apply.
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";

fn parse_json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// The object that results from applying `body` (of `content_type`) to `current`, and the
/// `Warning` headers field validation produced.
pub fn apply_patch(
    def: &ResourceDef,
    r: &Req,
    current: &Value,
    content_type: &str,
    body: &[u8],
    sub: Option<&str>,
) -> ApiResult<(Value, Vec<String>)> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    crate::http::nesting::check_nesting(body)?;
    let mut warnings = Vec::new();
    let mut patched = match media {
        JSON_PATCH => crate::patch_formats::json_patch(current, &parse_json(body)?)
            .map_err(|e| status_error(e.status()))?,
        MERGE_PATCH => crate::patch_formats::json_merge_patch(current, &parse_json(body)?)
            .map_err(|e| status_error(e.status()))?,
        STRATEGIC_PATCH if def.crd.is_none() => strategic(def, current, body)?,
        APPLY_PATCH | "application/apply-patch+cbor" => {
            let (applied, w) = apply_existing(def, r, current, body, sub)?;
            warnings = w;
            applied
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !patched.is_object() {
        return Err(ApiError::bad_request("the patch result is not an object"));
    }
    let text = String::from_utf8_lossy(body).into_owned();
    warnings.extend(validate_patched(r, def, &mut patched, &text)?);
    Ok((patched, warnings))
}

/// Strategic merge patch of a built-in object.
pub fn strategic(def: &ResourceDef, current: &Value, body: &[u8]) -> ApiResult<Value> {
    let patch: Value = serde_json::from_slice(body)
        .or_else(|_| serde_yaml::from_slice(body))
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    with_type(def, |t| {
        crate::patch_formats::strategic_merge_patch(current, &patch, t)
    })
    .map_err(|e| status_error(e.status()))
}

fn apply_config(body: &[u8]) -> ApiResult<Value> {
    crate::http::nesting::check_nesting(body)?;
    let v: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "apply configuration must be an object",
        ));
    }
    Ok(v)
}

/// Upstream's checks of an apply configuration before it is applied: every field must be
/// declared by the schema (500 otherwise, whatever `fieldValidation` says), then duplicate YAML
/// keys per `fieldValidation` (400 under Strict, warnings under Warn). Returns the warnings.
fn check_apply_config(
    def: &ResourceDef,
    r: &Req,
    body: &[u8],
    config: &Value,
) -> ApiResult<Vec<String>> {
    let dir = super::body::directive(r)?;
    let undeclared = with_type(def, |t| fieldvalidation::undeclared_fields(config, t));
    if !undeclared.is_empty() {
        let gvk = format!("{}/{}, Kind={}", def.group, def.version, def.kind);
        let message = fieldvalidation::typed_patch_message(
            crate::meta::namespace(config),
            crate::meta::name(config),
            &gvk,
            &undeclared,
        );
        return Err(ApiError::unreasoned(500, message));
    }
    let mut warnings = Vec::new();
    if dir == Directive::Ignore {
        return Ok(warnings);
    }
    let decoded = with_type(def, |t| {
        fieldvalidation::decode_body(body, BodyFormat::Yaml, t, false)
    });
    let duplicates = decoded
        .map(|d| d.strict_errors)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| matches!(e, StrictError::YamlDuplicates(_)));
    for e in duplicates {
        if dir == Directive::Strict {
            return Err(ApiError::bad_request(format!(
                "error strict decoding YAML: error converting YAML to JSON: {e}"
            )));
        }
        warnings.push(fieldvalidation::warning_header(&e.to_string()));
    }
    Ok(warnings)
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
) -> ApiResult<(Value, Vec<String>)> {
    let config = apply_config(body)?;
    check_apply_identity(def, r, &config)?;
    let warnings = check_apply_config(def, r, body, &config)?;
    let api_version = def.api_version();
    let writer = apply_writer(r, def, &api_version, sub)?;
    let force = r.flag("force");
    let applied = with_type(def, |t| {
        field_manager::apply(Some(current), &config, t, &writer, force)
    })
    .map_err(|e| status_error(e.status()))?;
    Ok((applied, warnings))
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
    let warnings = check_apply_config(def, r, body, &config)?;
    if let Some(n) = r.info.name.as_deref() {
        crate::meta::meta_mut(&mut config).insert("name".into(), Value::String(n.to_string()));
    }
    let api_version = def.api_version();
    let writer = apply_writer(r, def, &api_version, None)?;
    let applied = with_type(def, |t| {
        field_manager::apply(None, &config, t, &writer, r.flag("force"))
    })
    .map_err(|e| status_error(e.status()))?;
    let ns = r.info.namespace.clone().unwrap_or_default();
    let obj = crate::storage::prepare_new(
        api,
        def,
        &ns,
        applied,
        crate::storage::Checked::No,
        crate::kinds::Origin::Client,
    )?;
    let actor = Actor {
        applying: true,
        ..actor(r)
    };
    let (obj, hook_warnings) = crate::storage::admit_new_with_webhooks(
        api,
        def,
        &actor,
        obj,
        dry_run,
        crate::kinds::Origin::Client,
    )
    .await?;
    let mut warnings = warnings;
    warnings.extend(hook_warnings);
    if dry_run {
        let resp = response::object(StatusCode::CREATED, &obj, r.enc);
        return Ok(super::body::with_warnings(resp, &warnings));
    }
    let stored = to_stored(def, obj);
    let committed = crate::storage::commit_new(api, def, &stored).await?;
    let resp = response::encoded_bytes(StatusCode::CREATED, render(def, &committed), r.enc);
    Ok(super::body::with_warnings(resp, &warnings))
}
