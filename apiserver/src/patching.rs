//! Applying PATCH bodies to the current object: JSON patch (RFC 6902), JSON merge patch
//! (RFC 7386), strategic merge patch (built-in kinds) and server-side apply, followed by
//! `fieldValidation` of the result.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::http::Req;
use crate::managed::status_error;
use crate::registry::ResourceDef;

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
    let mut patched = match media {
        JSON_PATCH => crate::patch::json_patch(current, &parse_json(body)?)
            .map_err(|e| status_error(e.status()))?,
        MERGE_PATCH => crate::patch::json_merge_patch(current, &parse_json(body)?)
            .map_err(|e| status_error(e.status()))?,
        STRATEGIC_PATCH if def.crd.is_none() => crate::managed::strategic(def, current, body)?,
        APPLY_PATCH | "application/apply-patch+cbor" => {
            crate::managed::apply_existing(def, r, current, body, sub)?
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !patched.is_object() {
        return Err(ApiError::bad_request("the patch result is not an object"));
    }
    let text = String::from_utf8_lossy(body).into_owned();
    let warnings = crate::managed::validate_patched(r, def, &mut patched, &text)?;
    Ok((patched, warnings))
}
