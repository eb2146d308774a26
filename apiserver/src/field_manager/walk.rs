//! Schema-driven walks over objects: owned-field sets, comparison, apply merge, removal.

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, Path, PathElement, canonical_json};
use crate::schema::{ListType, MapType, TypeKind, TypeRef};

/// The path element identifying a list item (by key, by value, or by index).
pub fn item_element(list_ty: &TypeRef<'_>, index: usize, item: &Value) -> PathElement {
    match list_ty.list_type() {
        ListType::Map => match item.as_object() {
            Some(obj) if !list_ty.list_map_keys().is_empty() => {
                let mut key = Map::new();
                let mut names: Vec<&String> = list_ty.list_map_keys().iter().collect();
                names.sort();
                for name in names {
                    match obj.get(name.as_str()) {
                        Some(v) => {
                            key.insert(name.clone(), v.clone());
                        }
                        // The schema defaults `protocol` to TCP; upstream fills key defaults
                        // in before comparing items.
                        None if name == "protocol" => {
                            key.insert(name.clone(), Value::String("TCP".to_owned()));
                        }
                        None => {}
                    }
                }
                PathElement::Key(canonical_json(&Value::Object(key)))
            }
            _ => PathElement::Index(index),
        },
        ListType::Set => PathElement::Value(canonical_json(item)),
        ListType::Atomic => PathElement::Index(index),
    }
}

fn is_granular_object(ty: &TypeRef<'_>) -> bool {
    matches!(ty.kind(), TypeKind::Object | TypeKind::Untyped) && ty.map_type() == MapType::Granular
}

fn is_granular_list(ty: &TypeRef<'_>) -> bool {
    ty.kind() == TypeKind::Array && ty.list_type() != ListType::Atomic
}

fn child<'a>(ty: &TypeRef<'a>, key: &str) -> TypeRef<'a> {
    ty.field(key).unwrap_or_else(TypeRef::untyped)
}

/// The paths a value sets (upstream's `ToFieldSet`): leaves, list items, map entries.
pub fn to_field_set(value: &Value, ty: &TypeRef<'_>, path: &mut Path, set: &mut FieldSet) {
    match value {
        Value::Object(map) if is_granular_object(ty) => {
            for (key, v) in map {
                let child_ty = child(ty, key);
                path.push(PathElement::Field(key.clone()));
                to_field_set(v, &child_ty, path, set);
                let empty = v.is_null() || v.as_object().is_some_and(Map::is_empty);
                if empty || !ty.has_property(key) {
                    set.insert(path.clone());
                }
                path.pop();
            }
        }
        Value::Array(items) if is_granular_list(ty) => {
            let item_ty = ty.items().unwrap_or_else(TypeRef::untyped);
            for (i, item) in items.iter().enumerate() {
                path.push(item_element(ty, i, item));
                to_field_set(item, &item_ty, path, set);
                set.insert(path.clone());
                path.pop();
            }
        }
        _ => {
            if !path.is_empty() {
                set.insert(path.clone());
            }
        }
    }
}

/// What changed between two objects, as paths of owned fields.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Present only in the new object.
    pub added: FieldSet,
    /// Leaves whose value changed.
    pub modified: FieldSet,
    /// Present only in the old object.
    pub removed: FieldSet,
}

/// Compares two objects of the same type.
pub fn compare(old: &Value, new: &Value, ty: &TypeRef<'_>) -> Comparison {
    let mut out = Comparison::default();
    cmp(Some(old), Some(new), ty, &mut Vec::new(), false, &mut out);
    out
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// Whether a value that appears or disappears as a whole is itself an owned path: everything
/// except a struct under a declared field (upstream's structs always exist, empty or not).
fn self_member(v: &Value, ty: &TypeRef<'_>, under_declared_field: bool) -> bool {
    !(under_declared_field && ty.is_struct() && v.as_object().is_some_and(|m| !m.is_empty()))
}

/// A value present on one side only: its path (unless it is a struct under a declared field,
/// which upstream's typed objects always have) and, recursively, everything under it.
fn one_side(v: &Value, ty: &TypeRef<'_>, path: &mut Path, declared: bool, set: &mut FieldSet) {
    if !path.is_empty() && self_member(v, ty, declared) {
        set.insert(path.clone());
    }
    match v {
        Value::Object(map) if is_granular_object(ty) => {
            for (key, child_value) in map {
                if child_value.is_null() {
                    continue;
                }
                path.push(PathElement::Field(key.clone()));
                one_side(
                    child_value,
                    &child(ty, key),
                    path,
                    ty.has_property(key),
                    set,
                );
                path.pop();
            }
        }
        Value::Array(items) if is_granular_list(ty) => {
            let item_ty = ty.items().unwrap_or_else(TypeRef::untyped);
            for (i, item) in items.iter().enumerate() {
                path.push(item_element(ty, i, item));
                one_side(item, &item_ty, path, false, set);
                path.pop();
            }
        }
        _ => {}
    }
}

fn cmp(
    old: Option<&Value>,
    new: Option<&Value>,
    ty: &TypeRef<'_>,
    path: &mut Path,
    declared: bool,
    out: &mut Comparison,
) {
    match (present(old), present(new)) {
        (None, None) => {}
        (Some(o), None) => one_side(o, ty, path, declared, &mut out.removed),
        (None, Some(n)) => one_side(n, ty, path, declared, &mut out.added),
        (Some(Value::Object(o)), Some(Value::Object(n))) if is_granular_object(ty) => {
            for key in o.keys().chain(n.keys().filter(|k| !o.contains_key(*k))) {
                path.push(PathElement::Field(key.clone()));
                let child_ty = child(ty, key);
                cmp(
                    o.get(key),
                    n.get(key),
                    &child_ty,
                    path,
                    ty.has_property(key),
                    out,
                );
                path.pop();
            }
        }
        (Some(Value::Array(o)), Some(Value::Array(n))) if is_granular_list(ty) => {
            let item_ty = ty.items().unwrap_or_else(TypeRef::untyped);
            let keyed = |items: &[Value]| -> Vec<(PathElement, Value)> {
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (item_element(ty, i, v), v.clone()))
                    .collect()
            };
            let (o, n) = (keyed(o), keyed(n));
            let find = |items: &[(PathElement, Value)], e: &PathElement| {
                items.iter().find(|(k, _)| k == e).map(|(_, v)| v.clone())
            };
            let mut elements: Vec<PathElement> = o.iter().map(|(k, _)| k.clone()).collect();
            for (k, _) in &n {
                if !elements.contains(k) {
                    elements.push(k.clone());
                }
            }
            for element in elements {
                let (ov, nv) = (find(&o, &element), find(&n, &element));
                path.push(element);
                match (&ov, &nv) {
                    (Some(a), Some(b)) => cmp(Some(a), Some(b), &item_ty, path, false, out),
                    (Some(a), None) => one_side(a, &item_ty, path, false, &mut out.removed),
                    (None, Some(b)) => one_side(b, &item_ty, path, false, &mut out.added),
                    (None, None) => {}
                }
                path.pop();
            }
        }
        (Some(o), Some(n)) => {
            if o != n {
                out.modified.insert(path.clone());
            }
        }
    }
}

/// Merges an apply configuration into the live object (upstream's typed `Merge`).
pub fn merge(live: &Value, config: &Value, ty: &TypeRef<'_>) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if is_granular_object(ty) => {
            let mut out = l.clone();
            for (key, cv) in c {
                if cv.is_null() {
                    out.shift_remove(key);
                    continue;
                }
                let child_ty = child(ty, key);
                let merged = match l.get(key) {
                    Some(lv) => merge(lv, cv, &child_ty),
                    None => without_nulls(cv),
                };
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) if is_granular_list(ty) => {
            let item_ty = ty.items().unwrap_or_else(TypeRef::untyped);
            let mut out = l.clone();
            for (i, cv) in c.iter().enumerate() {
                let element = item_element(ty, i, cv);
                let existing = out
                    .iter()
                    .enumerate()
                    .position(|(j, lv)| item_element(ty, j, lv) == element);
                match existing {
                    Some(j) if ty.list_type() == ListType::Map => {
                        out[j] = merge(&out[j], cv, &item_ty);
                    }
                    Some(_) => {}
                    None => out.push(without_nulls(cv)),
                }
            }
            Value::Array(out)
        }
        _ => without_nulls(config),
    }
}

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Removes the field or item at `path` from `value`.
pub fn remove_path(value: &mut Value, path: &[PathElement], ty: &TypeRef<'_>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (first, value) {
        (PathElement::Field(name), Value::Object(map)) => {
            if rest.is_empty() {
                map.shift_remove(name);
            } else if let Some(child_value) = map.get_mut(name) {
                remove_path(child_value, rest, &child(ty, name));
            }
        }
        (element, Value::Array(items)) => {
            let position = items
                .iter()
                .enumerate()
                .position(|(i, v)| item_element(ty, i, v) == *element);
            let Some(i) = position else { return };
            if rest.is_empty() {
                items.remove(i);
            } else {
                let item_ty = ty.items().unwrap_or_else(TypeRef::untyped);
                remove_path(&mut items[i], rest, &item_ty);
            }
        }
        _ => {}
    }
}
