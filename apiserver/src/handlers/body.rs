//! What a write request brings: its writer (`fieldManager`), its body decoded against the
//! kind's schema with `fieldValidation`, and the mapping of field-management errors.

use http::Response;
use serde_json::Value;

use crate::error::StatusInfo;
use crate::error::{ApiError, ApiResult};
use crate::fieldvalidation::{self, BodyFormat, Directive, Outcome};
use crate::http::Req;
use crate::http::response::Body;
use crate::registry::ResourceDef;
use crate::storage::{Actor, with_type};

/// The writer of a request: its user, and the field manager (`fieldManager` parameter, or
/// derived from the user agent).
pub fn actor(r: &Req) -> Actor {
    {
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
    crate::http::nesting::check_nesting(&bytes)?;
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

/// Adds `Warning` headers to a response.
pub fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        if let Ok(v) = http::HeaderValue::from_str(w) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}
