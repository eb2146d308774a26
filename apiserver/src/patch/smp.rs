//! Strategic merge patch (`application/strategic-merge-patch+json`) over JSON values.

use serde_json::{Map, Value};

use super::PatchError;
use super::gofmt::go_value;
use crate::schema::TypeRef;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Applies a strategic merge patch to `original` using the patch strategies and merge keys of
/// `schema` (the type of the whole object). Both documents must be JSON objects.
pub fn strategic_merge_patch(
    original: &Value,
    patch: &Value,
    schema: &TypeRef<'_>,
) -> Result<Value, PatchError> {
    let Value::Object(original) = original else {
        return Err(PatchError::BadRequest("invalid JSON document".to_owned()));
    };
    let Value::Object(patch) = patch else {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            super::gofmt::json_type_name(patch)
        )));
    };
    let merged = merge_map(original.clone(), patch.clone(), schema)?;
    let mut out = Value::Object(merged);
    strip_directives(&mut out);
    Ok(out)
}

/// Go's dynamic types of decoded JSON; merging compares them as upstream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoKind {
    Map,
    Slice,
    String,
    Int,
    Float,
    Bool,
    Nil,
}

fn go_kind(value: &Value) -> GoKind {
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

fn go_type_name(value: &Value) -> &'static str {
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

fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Internal(format!(
        "expected a {expected}, but received a {}",
        go_type_name(actual)
    ))
}

fn no_merge_key(map: &Map<String, Value>, merge_key: &str) -> PatchError {
    PatchError::Internal(format!(
        "map: {} does not contain declared merge key: {merge_key}",
        go_value(&Value::Object(map.clone()))
    ))
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ty: &TypeRef<'_>,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return directive_in_map(directive.clone(), patch);
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, ty)?;
    for (key, patch_value) in patch {
        let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (extract_key(&key, DELETE_FROM_PRIMITIVE_LIST)?, true)
        } else {
            (key, false)
        };
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let field_ty = ty.field(&key).unwrap_or_else(TypeRef::untyped);
        let Some(current) = original.get_mut(&key) else {
            if !is_delete_list {
                original.insert(key, patch_value);
            }
            continue;
        };
        if go_kind(current) != go_kind(&patch_value) {
            *current = patch_value;
            continue;
        }
        let strategy = field_ty.patch_strategy();
        let merged = match (std::mem::take(current), patch_value) {
            (Value::Object(om), Value::Object(pm)) if !strategy.replace => {
                Value::Object(merge_map(om, pm, &field_ty)?)
            }
            (Value::Array(oa), Value::Array(pa)) => {
                Value::Array(merge_slice_handler(oa, pa, &field_ty, is_delete_list)?)
            }
            (_, patch_value) => patch_value,
        };
        *current = merged;
    }
    Ok(original)
}

fn directive_in_map(
    directive: Value,
    mut patch: Map<String, Value>,
) -> Result<Map<String, Value>, PatchError> {
    match directive.as_str() {
        Some("replace") => {
            patch.remove(DIRECTIVE);
            Ok(patch)
        }
        Some("delete") => Ok(Map::new()),
        _ => Err(PatchError::Internal(format!(
            "unknown patch type: {} in map: {}",
            go_value(&directive),
            go_value(&Value::Object(patch))
        ))),
    }
}

fn extract_key(key: &str, prefix: &'static str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((head, rest)) if head == prefix => Ok(rest.to_owned()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST => Err(PatchError::BadDirective(
            "invalid patch format of primitive list",
        )),
        _ => Err(PatchError::BadDirective(
            "invalid patch format of setElementOrder list",
        )),
    }
}

/// `$retainKeys`: keys of the original missing from the list are cleared, and the patch may
/// only set listed keys.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadDirective(
            "invalid patch format of retainKeys",
        ));
    };
    let retained = |key: &str| retain.iter().any(|r| r.as_str() == Some(key));
    for (key, value) in patch.iter() {
        if value.is_null()
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || key.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !retained(key) {
            return Err(PatchError::BadDirective(
                "invalid patch format of retainKeys",
            ));
        }
    }
    original.retain(|key, _| retained(key));
    Ok(())
}

fn list_of(value: Option<&Value>) -> Result<Option<Vec<Value>>, PatchError> {
    match value {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(other) => Err(bad_arg_type("[]interface {}", other)),
    }
}

/// `$setElementOrder/<field>`: merges that field's list and orders it as the directive says
/// (directive order, then patch order, then live order).
fn merge_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    ty: &TypeRef<'_>,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type("[]interface {}", &order));
        };
        let field = extract_key(&key, SET_ELEMENT_ORDER)?;
        let original_list = list_of(original.get(&field))?;
        let patch_list = list_of(patch.get(&field))?;
        let field_ty = ty.field(&field).unwrap_or_else(TypeRef::untyped);
        let merge_key = field_ty.patch_merge_key().map(str::to_owned);
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or(&[]),
            &order,
            merge_key.as_deref(),
        )?;
        let original_items = original_list.clone().unwrap_or_default();
        let merged = match (original_list, patch_list.clone()) {
            (Some(o), None) => o,
            (None, Some(p)) => p,
            (Some(o), Some(p)) => merge_slice_handler(o, p, &field_ty, false)?,
            (None, None) => continue,
        };
        let kind =
            match slice_element_kind(&[&original_items, patch_list.as_deref().unwrap_or(&[])]) {
                Ok(kind) => kind,
                // Nothing to order.
                Err(_) if merged.is_empty() => GoKind::Nil,
                Err(e) => return Err(e),
            };
        let key_for_partition = if kind == GoKind::Map {
            merge_key.as_deref()
        } else {
            None
        };
        let (patch_items, server_only) = partition(merged, &order, key_for_partition)?;
        let both = normalize_element_order(
            patch_items,
            server_only,
            &order,
            &original_items,
            key_for_partition,
            kind,
        )?;
        original.insert(field.clone(), Value::Array(both));
        patch.remove(&field);
    }
    Ok(())
}

fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete = match merge_key {
        Some(_) => extract_to_delete_items(patch_list.to_vec())?.0,
        None => patch_list.to_vec(),
    };
    let (mut pi, mut si) = (0, 0);
    while pi < non_delete.len() && si < order.len() {
        if non_delete[pi].get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(&non_delete[pi], &order[si], merge_key)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= order.len() {
        return Err(PatchError::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_value(&Value::Array(patch_list.to_vec())),
            go_value(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

fn merge_key_value_equal(
    left: &Value,
    right: &Value,
    merge_key: Option<&str>,
) -> Result<bool, PatchError> {
    let Some(key) = merge_key else {
        return Ok(left == right);
    };
    let l = left
        .as_object()
        .ok_or_else(|| bad_arg_type("map[string]interface {}", left))?;
    let r = right
        .as_object()
        .ok_or_else(|| bad_arg_type("map[string]interface {}", right))?;
    let lv = l.get(key).ok_or_else(|| no_merge_key(l, key))?;
    let rv = r.get(key).ok_or_else(|| no_merge_key(r, key))?;
    Ok(lv == rv)
}

fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    field_ty: &TypeRef<'_>,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if !field_ty.patch_strategy().merge {
        return Ok(patch);
    }
    let items = field_ty.items().unwrap_or_else(TypeRef::untyped);
    merge_slice(
        original,
        patch,
        &items,
        field_ty.patch_merge_key(),
        is_delete_list,
    )
}

/// The common element type of lists (upstream rejects lists of lists and mixed lists).
fn slice_element_kind(slices: &[&[Value]]) -> Result<GoKind, PatchError> {
    let mut previous = None;
    for value in slices.iter().flat_map(|s| s.iter()) {
        let kind = go_kind(value);
        match previous {
            None if kind == GoKind::Slice => {
                return Err(PatchError::Unprocessable(
                    "lists of lists are not supported".to_owned(),
                ));
            }
            None => previous = Some(kind),
            Some(p) if p != kind => {
                let all: Vec<Value> = slices.iter().map(|s| Value::Array(s.to_vec())).collect();
                return Err(PatchError::Internal(format!(
                    "list element types are not identical: {}",
                    go_value(&Value::Array(all))
                )));
            }
            Some(_) => {}
        }
    }
    previous
        .ok_or_else(|| PatchError::Internal("no elements in any of the given slices".to_owned()))
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    elem_ty: &TypeRef<'_>,
    merge_key: Option<&str>,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_kind(&[&original, &patch])?;
    let (server_order, patch_list, merged, key) = if kind != GoKind::Map {
        if is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(patch.iter()) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        (original, patch, merged, None)
    } else {
        let Some(key) = merge_key else {
            return Err(PatchError::Internal(
                "cannot merge lists without merge key for type struct".to_owned(),
            ));
        };
        let (original, patch) = merge_slice_with_special_elements(original, patch, key)?;
        let merged = merge_slice_without_special_elements(original.clone(), &patch, key, elem_ty)?;
        (original, patch, merged, Some(key))
    };
    let (patch_items, server_only) = partition(merged, &patch_list, key)?;
    normalize_element_order(
        patch_items,
        server_only,
        &patch_list,
        &server_order,
        key,
        kind,
    )
}

/// Handles `$patch` items of a merging list: `delete` removes matching live items, `replace`
/// makes the rest of the patch the whole list.
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(map) = item.as_object() else {
            return Err(bad_arg_type("map[string]interface {}", &item));
        };
        let Some(directive) = map.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = map.get(key).ok_or_else(|| no_merge_key(map, key))?;
                ensure_maps(&original)?;
                original.retain(|o| o.get(key) != Some(value));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(PatchError::Internal(
                    "merging lists cannot yet be specified in the patch".to_owned(),
                ));
            }
            _ => {
                return Err(PatchError::Internal(format!(
                    "unknown patch type: {} in map: {}",
                    go_value(directive),
                    go_value(&item)
                )));
            }
        }
    }
    if replace {
        return Ok((plain, Vec::new()));
    }
    Ok((original, plain))
}

fn ensure_maps(list: &[Value]) -> Result<(), PatchError> {
    match list.iter().position(|v| !v.is_object()) {
        Some(i) => Err(PatchError::Internal(format!(
            "value for key {i} is not a map."
        ))),
        None => Ok(()),
    }
}

fn find_by_key(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>, PatchError> {
    ensure_maps(list)?;
    Ok(list.iter().position(|o| o.get(key) == Some(value)))
}

fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    key: &str,
    elem_ty: &TypeRef<'_>,
) -> Result<Vec<Value>, PatchError> {
    for item in patch {
        let Some(map) = item.as_object() else {
            return Err(bad_arg_type("map[string]interface {}", item));
        };
        let value = map.get(key).ok_or_else(|| no_merge_key(map, key))?;
        match find_by_key(&original, key, value)? {
            Some(i) => {
                let current = match std::mem::take(&mut original[i]) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                original[i] = Value::Object(merge_map(current, map.clone(), elem_ty)?);
            }
            None => original.push(item.clone()),
        }
    }
    Ok(original)
}

/// Splits `merged` into the items present in `by` and the server-only ones.
fn partition(
    merged: Vec<Value>,
    by: &[Value],
    key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut in_patch = Vec::with_capacity(merged.len());
    let mut server_only = Vec::with_capacity(merged.len());
    for item in merged {
        let found = match key {
            None => by.contains(&item),
            Some(key) => {
                let Some(map) = item.as_object() else {
                    return Err(bad_arg_type("map[string]interface {}", &item));
                };
                let value = map.get(key).ok_or_else(|| no_merge_key(map, key))?;
                find_by_key(by, key, value)?.is_some()
            }
        };
        if found {
            in_patch.push(item);
        } else {
            server_only.push(item);
        }
    }
    Ok((in_patch, server_only))
}

fn extract_to_delete_items(list: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut keep = Vec::new();
    let mut delete = Vec::new();
    for item in list {
        let Some(map) = item.as_object() else {
            return Err(bad_arg_type("map[string]interface {}", &item));
        };
        if map.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
            delete.push(item);
        } else {
            keep.push(item);
        }
    }
    Ok((keep, delete))
}

fn order_value<'v>(item: &'v Value, key: Option<&str>, kind: GoKind) -> Option<&'v Value> {
    if kind == GoKind::Map {
        item.get(key?)
    } else {
        Some(item)
    }
}

fn index_of(list: &[Value], item: &Value, key: Option<&str>, kind: GoKind) -> Option<usize> {
    let wanted = order_value(item, key, kind);
    list.iter()
        .position(|v| order_value(v, key, kind) == wanted)
}

fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    key: Option<&str>,
    kind: GoKind,
) -> Result<Vec<Value>, PatchError> {
    let (mut keep, delete) = if kind == GoKind::Map {
        if let Some(key) = key {
            for item in to_sort.iter().chain(order.iter()) {
                let map = item
                    .as_object()
                    .ok_or_else(|| bad_arg_type("map[string]interface {}", item))?;
                if !map.contains_key(key) {
                    return Err(no_merge_key(map, key));
                }
            }
        }
        extract_to_delete_items(to_sort)?
    } else {
        (to_sort, Vec::new())
    };
    keep.sort_by_key(|item| index_of(order, item, key, kind).unwrap_or(usize::MAX));
    keep.extend(delete);
    Ok(keep)
}

fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
    kind: GoKind,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = normalize_slice_order(patch_items, patch_order, key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, key, kind)?;
    Ok(merge_sorted_slice(
        server_only,
        patch_items,
        server_order,
        key,
        kind,
    ))
}

/// Interleaves server-only items (`left`) into patch items (`right`): a server-only item goes
/// first only when both are in the live list and it came earlier there.
fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    key: Option<&str>,
    kind: GoKind,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (
                    index_of(server_order, l, key, kind),
                    index_of(server_order, r, key, kind),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some(item) = next {
            out.push(item);
        }
    }
    out
}

/// Removes directive keys and nulls that remain in values taken wholesale from the patch
/// (upstream drops them when decoding into the typed object).
fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, v| {
                !(v.is_null()
                    || k == DIRECTIVE
                    || k == RETAIN_KEYS
                    || k.starts_with("$setElementOrder/")
                    || k.starts_with("$deleteFromPrimitiveList/"))
            });
            for v in map.values_mut() {
                strip_directives(v);
            }
        }
        Value::Array(items) => {
            for v in items {
                strip_directives(v);
            }
        }
        _ => {}
    }
}
