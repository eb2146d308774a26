//! A stored object: its serialized JSON plus the few indexed fields selectors need.

use bytes::Bytes;
use serde_json::Value;

/// One object as kept in memory: compact JSON (with `metadata.resourceVersion` set) and the
/// values selectors look at, so lists and watches never re-parse JSON to filter.
#[derive(Debug)]
pub struct StoredObject {
    /// Resource version of the write that produced this state.
    pub rv: u64,
    /// The object, serialized.
    pub json: Bytes,
    /// `metadata.uid`.
    pub uid: Box<str>,
    /// `metadata.labels` as sorted pairs.
    pub labels: Box<[(Box<str>, Box<str>)]>,
    /// Values of the resource's selectable fields, in the order of its field list.
    pub fields: Box<[Box<str>]>,
}

impl StoredObject {
    /// Builds the stored form of `obj`, whose `metadata.resourceVersion` must already be set.
    pub fn new(rv: u64, obj: &Value, field_paths: &[&str]) -> Result<Self, serde_json::Error> {
        let json = Bytes::from(serde_json::to_vec(obj)?);
        let meta = obj.get("metadata");
        let uid = meta
            .and_then(|m| m.get("uid"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into();
        let mut labels: Vec<(Box<str>, Box<str>)> = meta
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|l| {
                l.iter()
                    .map(|(k, v)| (k.as_str().into(), v.as_str().unwrap_or_default().into()))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort();
        let fields = field_paths
            .iter()
            .map(|p| field_value(obj, p).unwrap_or_default().into_boxed_str())
            .collect();
        Ok(StoredObject {
            rv,
            json,
            uid,
            labels: labels.into_boxed_slice(),
            fields,
        })
    }

    /// The object parsed back into JSON.
    pub fn value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.json)
    }

    /// A label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.labels[i].1.as_ref())
    }
}

/// Selectable boolean fields: upstream renders Go's `bool` zero value, so absent is "false".
const BOOLEAN_FIELDS: &[&str] = &["spec.unschedulable", "spec.hostNetwork"];

/// The string form of a field-selector path in `obj` (`spec.nodeName`, `status.phase`,
/// `spec.unschedulable`...); booleans and numbers are rendered as upstream does.
pub fn field_value(obj: &Value, path: &str) -> Option<String> {
    let mut cur = obj;
    for part in path.split('.') {
        match cur.get(part) {
            Some(next) => cur = next,
            None if BOOLEAN_FIELDS.contains(&path) => return Some("false".into()),
            None => return None,
        }
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null if BOOLEAN_FIELDS.contains(&path) => Some("false".into()),
        Value::Null => None,
        _ => None,
    }
}
