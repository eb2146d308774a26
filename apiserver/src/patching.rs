//! Applying PATCH bodies to the current object: JSON patch (RFC 6902), JSON merge patch
//! (RFC 7386), strategic merge patch (built-in kinds) and server-side apply.

use serde_json::Value;

use crate::api::Api;
use crate::error::{ApiError, ApiResult};
use crate::http::Req;
use crate::registry::ResourceDef;

/// Media types of the patch flavours.
pub const JSON_PATCH: &str = "application/json-patch+json";
/// JSON merge patch.
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// Strategic merge patch.
pub const STRATEGIC_PATCH: &str = "application/strategic-merge-patch+json";
/// Server-side apply.
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";

/// The object that results from applying `body` (of `content_type`) to `current`.
pub fn apply_patch(
    api: &Api,
    def: &ResourceDef,
    r: &Req,
    current: &Value,
    content_type: &str,
    body: &[u8],
) -> ApiResult<Value> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    match media {
        JSON_PATCH => json_patch(current, body),
        MERGE_PATCH => merge_patch(current, body),
        STRATEGIC_PATCH if def.crd.is_none() => crate::managed::strategic(api, def, current, body),
        APPLY_PATCH => crate::managed::apply_existing(api, def, r, current, body),
        STRATEGIC_PATCH => Err(ApiError::unsupported_media_type(media)),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

fn json_patch(current: &Value, body: &[u8]) -> ApiResult<Value> {
    let patch: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut doc = current.clone();
    json_patch::patch(&mut doc, &patch).map_err(|e| {
        // Upstream reports a failed `test` or a missing path as 422 with the jsonpatch message.
        let mut err = ApiError::invalid("", "", "", vec![]);
        err.message =
            format!("the server rejected our request due to an error in our request: {e}");
        err.code = 422;
        err.details = None;
        err
    })?;
    if !doc.is_object() {
        return Err(ApiError::bad_request("patch result is not an object"));
    }
    Ok(doc)
}

fn merge_patch(current: &Value, body: &[u8]) -> ApiResult<Value> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    if !patch.is_object() {
        return Err(ApiError::bad_request("merge patch must be a JSON object"));
    }
    let mut doc = current.clone();
    json_patch::merge(&mut doc, &patch);
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_and_json_patch() {
        let cur = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let out =
            merge_patch(&cur, br#"{"metadata":{"labels":{"a":null,"c":"3"}}}"#).unwrap_or_default();
        assert_eq!(out, json!({"metadata": {"labels": {"b": "2", "c": "3"}}}));
        let out = json_patch(
            &cur,
            br#"[{"op":"replace","path":"/metadata/labels/a","value":"9"}]"#,
        )
        .unwrap_or_default();
        assert_eq!(out["metadata"]["labels"]["a"], "9");
        let err = json_patch(
            &cur,
            br#"[{"op":"test","path":"/metadata/labels/a","value":"x"}]"#,
        );
        assert_eq!(err.map_err(|e| e.code), Err(422));
        assert!(merge_patch(&cur, b"[1]").is_err());
    }
}
