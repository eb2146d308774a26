//! Defaults and validation of the smaller built-in kinds.

use serde_json::{Value, json};

use crate::error::Cause;

/// Defaults of kinds without a module of their own.
pub fn defaults(group: &str, kind: &str, obj: &mut Value) {
    match (group, kind) {
        ("", "Secret") => secret_defaults(obj),
        ("", "PersistentVolumeClaim") => {
            set_in(obj, "spec", "volumeMode", json!("Filesystem"));
            set_in(obj, "status", "phase", json!("Pending"));
        }
        ("", "PersistentVolume") => {
            set_in(
                obj,
                "spec",
                "persistentVolumeReclaimPolicy",
                json!("Retain"),
            );
            set_in(obj, "spec", "volumeMode", json!("Filesystem"));
            set_in(obj, "status", "phase", json!("Pending"));
        }
        ("storage.k8s.io", "StorageClass") => {
            if let Some(o) = obj.as_object_mut() {
                o.entry("reclaimPolicy").or_insert_with(|| json!("Delete"));
                o.entry("volumeBindingMode")
                    .or_insert_with(|| json!("Immediate"));
            }
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            if let Some(o) = obj.as_object_mut() {
                o.entry("preemptionPolicy")
                    .or_insert_with(|| json!("PreemptLowerPriority"));
            }
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            let has_egress = obj.pointer("/spec/egress").is_some();
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
                && !spec.contains_key("policyTypes")
            {
                let mut types = vec!["Ingress"];
                if has_egress {
                    types.push("Egress");
                }
                spec.insert("policyTypes".into(), json!(types));
            }
        }
        ("", "Node") => {
            if let Some(o) = obj.as_object_mut() {
                o.entry("spec").or_insert_with(|| json!({}));
            }
        }
        _ => {}
    }
}

fn set_in(obj: &mut Value, section: &str, key: &str, value: Value) {
    let Some(o) = obj.as_object_mut() else { return };
    let sec = o.entry(section).or_insert_with(|| json!({}));
    if let Some(s) = sec.as_object_mut() {
        s.entry(key).or_insert(value);
    }
}

/// Secrets: default type, and `stringData` folded into base64 `data` as upstream does on write.
fn secret_defaults(obj: &mut Value) {
    use base64::Engine;
    let Some(o) = obj.as_object_mut() else { return };
    o.entry("type").or_insert_with(|| json!("Opaque"));
    if let Some(Value::Object(sd)) = o.remove("stringData") {
        let data = o.entry("data").or_insert_with(|| json!({}));
        if let Some(d) = data.as_object_mut() {
            for (k, v) in sd {
                let s = v.as_str().unwrap_or_default();
                d.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(s)),
                );
            }
        }
    }
}

fn valid_config_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && !k.starts_with("..")
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

const KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
/// Upstream's limit on the data of a Secret or ConfigMap.
const MAX_DATA: usize = 1024 * 1024;

fn validate_keys(obj: &Value, fields: &[&str], out: &mut Vec<Cause>) {
    let mut total = 0usize;
    for f in fields {
        if let Some(m) = obj.get(*f).and_then(Value::as_object) {
            for (k, v) in m {
                if !valid_config_key(k) {
                    out.push(Cause::invalid(&format!("{f}[{k}]"), &json!(k), KEY_MSG));
                }
                total += k.len() + v.as_str().map(str::len).unwrap_or(0);
            }
        }
    }
    if total > MAX_DATA {
        out.push(Cause::too_long(
            fields.first().copied().unwrap_or("data"),
            MAX_DATA,
        ));
    }
}

/// Validation of kinds without a module of their own.
pub fn validate(group: &str, kind: &str, old: Option<&Value>, new: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    match (group, kind) {
        ("", "Secret") => {
            validate_keys(new, &["data"], &mut out);
            if let Some(old) = old {
                if old.get("type") != new.get("type") {
                    out.push(Cause::invalid(
                        "type",
                        new.get("type").unwrap_or(&Value::Null),
                        "field is immutable",
                    ));
                }
                if old.get("immutable") == Some(&json!(true)) && old.get("data") != new.get("data")
                {
                    out.push(Cause::forbidden(
                        "data",
                        "field is immutable when `immutable` is set",
                    ));
                }
            }
        }
        ("", "ConfigMap") => {
            validate_keys(new, &["data", "binaryData"], &mut out);
            if let Some(old) = old
                && old.get("immutable") == Some(&json!(true))
                && (old.get("data") != new.get("data")
                    || old.get("binaryData") != new.get("binaryData"))
            {
                out.push(Cause::forbidden(
                    "data",
                    "field is immutable when `immutable` is set",
                ));
            }
        }
        ("", "Event") => {
            let ns = crate::meta::namespace(new);
            let io_ns = new
                .pointer("/involvedObject/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !io_ns.is_empty() && io_ns != ns {
                out.push(Cause::invalid(
                    "involvedObject.namespace",
                    &json!(io_ns),
                    "does not match event.namespace",
                ));
            }
        }
        ("", "PersistentVolumeClaim") => {
            if new
                .pointer("/spec/accessModes")
                .and_then(Value::as_array)
                .is_none_or(|a| a.is_empty())
            {
                out.push(Cause::required(
                    "spec.accessModes",
                    "at least 1 access mode is required",
                ));
            }
            if new.pointer("/spec/resources/requests/storage").is_none() {
                out.push(Cause::required("spec.resources[storage]", ""));
            }
        }
        ("scheduling.k8s.io", "PriorityClass")
            if new.get("value").and_then(Value::as_i64).is_none() =>
        {
            out.push(Cause::required("value", ""));
        }
        ("coordination.k8s.io", "Lease") => {
            if let Some(d) = new
                .pointer("/spec/leaseDurationSeconds")
                .and_then(Value::as_i64)
                && d <= 0
            {
                out.push(Cause::invalid(
                    "spec.leaseDurationSeconds",
                    &json!(d),
                    "must be greater than 0",
                ));
            }
        }
        _ => {}
    }
    out
}
