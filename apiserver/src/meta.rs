//! Small accessors for `metadata` of objects held as JSON.

use serde_json::{Map, Value};

/// `metadata` as a mutable map, created (or replaced, when not a map) as needed. Non-object
/// values are turned into objects first; callers only pass decoded Kubernetes objects.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let Value::Object(o) = obj else {
        unreachable!("replaced by an object above")
    };
    let md = o
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !md.is_object() {
        *md = Value::Object(Map::new());
    }
    match md {
        Value::Object(m) => m,
        _ => unreachable!("replaced by an object above"),
    }
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// `metadata.name`.
pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or_default()
}

/// `metadata.namespace`.
pub fn namespace(obj: &Value) -> &str {
    meta_str(obj, "namespace").unwrap_or_default()
}

/// `metadata.uid`.
pub fn uid(obj: &Value) -> &str {
    meta_str(obj, "uid").unwrap_or_default()
}

/// `metadata.resourceVersion` parsed.
pub fn resource_version(obj: &Value) -> Option<&str> {
    meta_str(obj, "resourceVersion").filter(|s| !s.is_empty())
}

/// `metadata.finalizers`.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `metadata.finalizers` (removing the field when empty).
pub fn set_finalizers(obj: &mut Value, f: &[String]) {
    let m = meta_mut(obj);
    if f.is_empty() {
        m.remove("finalizers");
    } else {
        m.insert("finalizers".into(), Value::from(f.to_vec()));
    }
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// `metadata.labels` as a string map.
pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.ownerReferences`.
pub fn owner_references(obj: &Value) -> Vec<Value> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The current time as upstream formats `metav1.Time` (RFC 3339, seconds, `Z`).
pub fn now() -> String {
    format_time(jiff::Timestamp::now())
}

/// Formats a timestamp as `metav1.Time`.
pub fn format_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The current time as `metav1.MicroTime` (RFC 3339 with microseconds).
pub fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

/// Parses a `metav1.Time`/`MicroTime` string.
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

/// A fresh uid.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Whether two objects are equal ignoring `resourceVersion` and managed-field timestamps
/// (compared in place: this runs on every update).
pub fn same_content(a: &Value, b: &Value) -> bool {
    let (Some(ao), Some(bo)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    if ao.len() != bo.len() {
        return false;
    }
    ao.iter().all(|(k, av)| match bo.get(k) {
        None => false,
        Some(bv) if k == "metadata" => same_metadata(av, bv),
        Some(bv) => av == bv,
    })
}

fn same_metadata(a: &Value, b: &Value) -> bool {
    let (Some(ao), Some(bo)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let keys = |o: &Map<String, Value>| o.keys().filter(|k| *k != "resourceVersion").count();
    if keys(ao) != keys(bo) {
        return false;
    }
    ao.iter()
        .filter(|(k, _)| *k != "resourceVersion")
        .all(|(k, av)| match bo.get(k) {
            None => false,
            Some(bv) if k == "managedFields" => same_managed_fields(av, bv),
            Some(bv) => av == bv,
        })
}

fn same_managed_fields(a: &Value, b: &Value) -> bool {
    let (Some(aa), Some(ba)) = (a.as_array(), b.as_array()) else {
        return a == b;
    };
    aa.len() == ba.len()
        && aa
            .iter()
            .zip(ba)
            .all(|(x, y)| match (x.as_object(), y.as_object()) {
                (Some(xo), Some(yo)) => {
                    let n = |o: &Map<String, Value>| o.keys().filter(|k| *k != "time").count();
                    n(xo) == n(yo)
                        && xo
                            .iter()
                            .filter(|(k, _)| *k != "time")
                            .all(|(k, v)| yo.get(k) == Some(v))
                }
                _ => x == y,
            })
}

/// Whether the parts of two objects other than `metadata` and `status` differ (what
/// `metadata.generation` tracks).
pub fn spec_changed(a: &Value, b: &Value) -> bool {
    let (Some(ao), Some(bo)) = (a.as_object(), b.as_object()) else {
        return a != b;
    };
    let outside = |k: &String| k != "metadata" && k != "status";
    let count = |o: &Map<String, Value>| o.keys().filter(|k| outside(k)).count();
    count(ao) != count(bo)
        || ao
            .iter()
            .filter(|(k, _)| outside(k))
            .any(|(k, v)| bo.get(k) != Some(v))
}

/// The owner of `obj` with `controller: true`, as (kind, name, uid).
pub fn controller_of(obj: &serde_json::Value) -> Option<(String, String, String)> {
    crate::meta::owner_references(obj)
        .into_iter()
        .find_map(|o| {
            (o.get("controller").and_then(serde_json::Value::as_bool) == Some(true)).then(|| {
                let s = |k: &str| {
                    o.get(k)
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                (s("kind"), s("name"), s("uid"))
            })
        })
}
