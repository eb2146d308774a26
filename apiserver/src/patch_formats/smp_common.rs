//! What the strategic merge patch files share: directives, Go kinds of values, errors.

use serde_json::{Map, Value};

use super::error::PatchError;
use super::gofmt::go_value;

pub(super) const DIRECTIVE: &str = "$patch";

pub(super) const RETAIN_KEYS: &str = "$retainKeys";

pub(super) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

pub(super) const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Go's dynamic types of decoded JSON; merging compares them as upstream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GoKind {
    Map,
    Slice,
    String,
    Int,
    Float,
    Bool,
    Nil,
}

pub(super) fn go_kind(value: &Value) -> GoKind {
    match value {
        Value::Object(_) => GoKind::Map,
        Value::Array(_) => GoKind::Slice,
        Value::String(_) => GoKind::String,
        Value::Number(n) if n.is_i64() || n.is_u64() => GoKind::Int,
        Value::Number(_) => GoKind::Float,
        Value::Bool(_) => GoKind::Bool,
        Value::Null => GoKind::Nil,
    }
}

pub(super) fn go_type_name(value: &Value) -> &'static str {
    match go_kind(value) {
        GoKind::Map => "map[string]interface {}",
        GoKind::Slice => "[]interface {}",
        GoKind::String => "string",
        GoKind::Int => "int64",
        GoKind::Float => "float64",
        GoKind::Bool => "bool",
        GoKind::Nil => "<nil>",
    }
}

pub(super) fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Internal(format!(
        "expected a {expected}, but received a {}",
        go_type_name(actual)
    ))
}

pub(super) fn no_merge_key(map: &Map<String, Value>, merge_key: &str) -> PatchError {
    PatchError::Internal(format!(
        "map: {} does not contain declared merge key: {merge_key}",
        go_value(&Value::Object(map.clone()))
    ))
}

pub(super) fn ensure_maps(list: &[Value]) -> Result<(), PatchError> {
    match list.iter().position(|v| !v.is_object()) {
        Some(i) => Err(PatchError::Internal(format!(
            "value for key {i} is not a map."
        ))),
        None => Ok(()),
    }
}

pub(super) fn find_by_key(
    list: &[Value],
    key: &str,
    value: &Value,
) -> Result<Option<usize>, PatchError> {
    ensure_maps(list)?;
    Ok(list.iter().position(|o| o.get(key) == Some(value)))
}
