//! Strategic merge patch: deletions from lists and the order of merged list elements.

use serde_json::Value;

use super::error::PatchError;
use super::smp_common::*;

/// Splits `merged` into the items present in `by` and the server-only ones.
pub(super) fn partition(
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

pub(super) fn extract_to_delete_items(
    list: Vec<Value>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
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

pub(super) fn order_value<'v>(
    item: &'v Value,
    key: Option<&str>,
    kind: GoKind,
) -> Option<&'v Value> {
    if kind == GoKind::Map {
        item.get(key?)
    } else {
        Some(item)
    }
}

pub(super) fn index_of(
    list: &[Value],
    item: &Value,
    key: Option<&str>,
    kind: GoKind,
) -> Option<usize> {
    let wanted = order_value(item, key, kind);
    list.iter()
        .position(|v| order_value(v, key, kind) == wanted)
}

pub(super) fn normalize_slice_order(
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

pub(super) fn normalize_element_order(
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
pub(super) fn merge_sorted_slice(
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
pub(super) fn strip_directives(value: &mut Value) {
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
