//! The patch formats, as pure functions over JSON documents: strategic merge patch, JSON merge
//! patch (RFC 7386) and JSON patch (RFC 6902). Applying a PATCH request (choosing the format,
//! server-side apply, field validation) is `handlers::patch`.
//!
//! Strategic merge follows upstream's `strategicpatch` semantics with the schema's patch
//! strategies and merge keys: `$patch: replace|delete` on maps and list items, `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`, null deletes, merge-strategy
//! scalar lists are unions (new items first, as upstream orders them), other lists are replaced.
//! Errors carry upstream's status codes ([`PatchError::status`]). Known deviations: directive
//! keys and nulls left inside wholesale-inserted values are stripped here (upstream drops them
//! when decoding into the typed struct); `$deleteFromPrimitiveList` on an absent list is a no-op
//! (upstream would store the values to delete); "no elements in any of the given slices" for an
//! empty `$setElementOrder` over empty lists is not an error.

mod error;
mod gofmt;
mod smp;
mod smp_common;
mod smp_order;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use error::PatchError;

pub use smp::strategic_merge_patch;

/// The most JSON patch operations one request may carry (upstream's limit).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10000;

/// Applies a JSON merge patch (RFC 7386, `application/merge-patch+json`).
pub fn json_merge_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let mut doc = original.clone();
    json_patch::merge(&mut doc, patch);
    if !doc.is_object() {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            gofmt::json_type_name(&doc)
        )));
    }
    Ok(doc)
}

/// Applies a JSON patch (RFC 6902, `application/json-patch+json`) given as the parsed body.
pub fn json_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = match patch {
        Value::Array(ops) => ops,
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                gofmt::json_type_name(other)
            )));
        }
    };
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            max: MAX_JSON_PATCH_OPERATIONS,
            got: ops.len(),
        });
    }
    let mut parsed = Vec::with_capacity(ops.len());
    for op in ops {
        parsed.push(parse_operation(op)?);
    }
    let mut doc = original.clone();
    for op in &parsed {
        apply_operation(&mut doc, op)?;
    }
    Ok(doc)
}

fn parse_operation(op: &Value) -> Result<json_patch::PatchOperation, PatchError> {
    let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
    if !matches!(
        kind,
        "add" | "remove" | "replace" | "move" | "copy" | "test"
    ) {
        return Err(PatchError::BadRequest(format!(
            "Unexpected kind: {}",
            if kind.is_empty() { "unknown" } else { kind }
        )));
    }
    serde_json::from_value(op.clone()).map_err(|e| PatchError::BadRequest(e.to_string()))
}

/// Applies one operation, reporting failures with upstream's (evanphx/json-patch) wording.
fn apply_operation(doc: &mut Value, op: &json_patch::PatchOperation) -> Result<(), PatchError> {
    use json_patch::PatchOperation as Op;
    let path = op.path().to_string();
    let before = doc.clone();
    match json_patch::patch(doc, std::slice::from_ref(op)) {
        Ok(()) => Ok(()),
        Err(err) => {
            *doc = before;
            let message = match (op, &err.kind) {
                (Op::Test(_), json_patch::PatchErrorKind::TestFailed) => {
                    format!("testing value {path} failed: test failed")
                }
                (Op::Test(_), _) => format!("testing value {path} failed: missing value"),
                (Op::Remove(_), _) => format!(
                    "remove operation does not apply: doc is missing path: \"{path}\": missing value"
                ),
                (Op::Replace(_), _) => format!(
                    "replace operation does not apply: doc is missing key: {path}: missing value"
                ),
                (Op::Add(_), _) => format!(
                    "add operation does not apply: doc is missing path: \"{path}\": missing value"
                ),
                (Op::Move(m), _) => format!(
                    "move operation does not apply: doc is missing from path: {}: missing value",
                    m.from
                ),
                (Op::Copy(c), _) => format!(
                    "copy operation does not apply: doc is missing from path: \"{}\": missing value",
                    c.from
                ),
            };
            Err(PatchError::JsonPatchFailed(message))
        }
    }
}
