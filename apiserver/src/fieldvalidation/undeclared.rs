//! Fields an apply configuration sets that its schema does not declare. Upstream converts an
//! apply configuration to a typed object before anything else and refuses it (500, whatever
//! `fieldValidation` says) when a field is not declared; paths are written as
//! structured-merge-diff writes them (`.spec.containers[name="c"].bogus`, `.tolerations[0]`).
//! Upstream stops at the first undeclared field of each object, visiting fields in Go's random
//! map order, so which of several it names varies; this names all of them, in document order.
//! An associative-list element missing a key field that upstream fills from the schema default
//! (a container port's `protocol`) is named by its index here.

use serde_json::Value;

use crate::schema::{ListType, SchemaIndex, TypeRef};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The undeclared fields of `value` (an object of type `ty`), in document order. The root and
/// every embedded resource carry a full `ObjectMeta` as `metadata`.
pub fn undeclared_fields(value: &Value, ty: &TypeRef<'_>) -> Vec<String> {
    let mut out = Vec::new();
    walk(value, ty, true, &mut String::new(), &mut out);
    out
}

fn object_meta() -> Option<TypeRef<'static>> {
    SchemaIndex::builtin()
        .ok()?
        .type_for_definition(OBJECT_META)
}

fn walk(value: &Value, ty: &TypeRef<'_>, resource: bool, path: &mut String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                if resource && key == "metadata" {
                    if let Some(meta) = object_meta() {
                        walk(child, &meta, false, path, out);
                    }
                } else {
                    match ty.field(key) {
                        Some(t) => {
                            let embedded = t.is_embedded_resource();
                            walk(child, &t, embedded, path, out);
                        }
                        // An embedded resource takes any field here (pruning drops it later);
                        // only its metadata is checked.
                        None if ty.is_embedded_resource() => {}
                        None => out.push(path.clone()),
                    }
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            let item_ty = ty.items().unwrap_or_else(TypeRef::untyped);
            let keys = list_keys(ty);
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&element(item, &keys, i));
                let embedded = item_ty.is_embedded_resource();
                walk(item, &item_ty, embedded, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The keys that identify an element of an associative list.
fn list_keys(ty: &TypeRef<'_>) -> Vec<String> {
    if ty.list_type() == ListType::Map && !ty.list_map_keys().is_empty() {
        return ty.list_map_keys().to_vec();
    }
    match ty.patch_merge_key() {
        Some(k) if ty.declared_list_type().is_none() || ty.list_type() == ListType::Map => {
            vec![k.to_string()]
        }
        _ => Vec::new(),
    }
}

/// `[name="c"]` for an associative list element, `[i]` otherwise.
fn element(item: &Value, keys: &[String], i: usize) -> String {
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|k| item.get(k).map(|v| format!("{k}={v}")))
        .collect();
    if keys.is_empty() || parts.len() != keys.len() {
        format!("[{i}]")
    } else {
        format!("[{}]", parts.join(","))
    }
}

/// The message upstream answers with for these paths on object `ns/name` of `gvk` (as Go's
/// `GroupVersionKind.String()` writes it).
pub fn typed_patch_message(ns: &str, name: &str, gvk: &str, paths: &[String]) -> String {
    let errs: Vec<String> = paths
        .iter()
        .map(|p| format!("{p}: field not declared in schema"))
        .collect();
    let body = if errs.len() == 1 {
        errs[0].clone()
    } else {
        format!("errors:\n  {}", errs.join("\n  "))
    };
    format!("failed to create typed patch object ({ns}/{name}; {gvk}): {body}")
}
