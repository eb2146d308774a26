//! Namespaces: defaults and the metadata label upstream maintains.

use serde_json::{Value, json};

use super::names::NameRule;
use crate::registry::def::Strategy;

/// Namespace defaults: the `kubernetes` finalizer, phase `Active`, and the immutable
/// `kubernetes.io/metadata.name` label.
pub fn defaults(ns: &mut Value) {
    let name = crate::meta::name(ns).to_string();
    if !name.is_empty() {
        let meta = crate::meta::meta_mut(ns);
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    let Some(o) = ns.as_object_mut() else { return };
    let spec = o.entry("spec").or_insert_with(|| json!({}));
    if let Some(s) = spec.as_object_mut() {
        s.entry("finalizers")
            .or_insert_with(|| json!(["kubernetes"]));
    }
    let status = o.entry("status").or_insert_with(|| json!({}));
    if let Some(s) = status.as_object_mut() {
        s.entry("phase").or_insert_with(|| json!("Active"));
    }
}

/// Whether the namespace is terminating.
pub fn is_terminating(ns: &Value) -> bool {
    ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
        || crate::meta::is_deleting(ns)
}

/// `spec.finalizers` of a namespace.
pub fn spec_finalizers(ns: &Value) -> Vec<String> {
    ns.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The Namespace strategy: `spec.finalizers` hold a deleting namespace, which is
/// `Terminating` meanwhile.
#[derive(Debug)]
pub struct Namespace;

impl Strategy for Namespace {
    fn defaults(&self, obj: &mut Value) {
        defaults(obj);
    }
    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }
    fn returns_deleted_object(&self) -> bool {
        true
    }
    fn holds_deletion(&self, obj: &Value) -> bool {
        !spec_finalizers(obj).is_empty()
    }
    fn mark_deleting(&self, obj: &mut Value) {
        if let Some(o) = obj.as_object_mut() {
            let status = o.entry("status").or_insert_with(|| json!({}));
            if let Some(s) = status.as_object_mut() {
                s.insert("phase".into(), json!("Terminating"));
            }
        }
    }
}
