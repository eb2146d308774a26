//! Strategic merge patch (`application/strategic-merge-patch+json`) over JSON values.

use serde_json::{Map, Value};

use super::error::PatchError;
use super::gofmt::go_value;
use super::smp_common::*;
use super::smp_order::*;
use crate::schema::TypeRef;

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
