//! Strategies of the smaller built-in kinds (defaults and validation only).

use serde_json::{Map, Value, json};

use crate::error::Cause;
use crate::registry::def::{Origin, Strategy};

/// Secrets: default type, `stringData` folded into `data`, key validation, immutability.
#[derive(Debug)]
pub struct Secret;

impl Strategy for Secret {
    fn defaults(&self, obj: &mut Value) {
        secret_defaults(obj);
    }
    fn validate(&self, old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        let mut out = Vec::new();
        validate_keys(new, &["data"], &mut out);
        if let Some(old) = old {
            if old.get("type") != new.get("type") {
                out.push(Cause::invalid(
                    "type",
                    new.get("type").unwrap_or(&Value::Null),
                    "field is immutable",
                ));
            }
            if old.get("immutable") == Some(&json!(true)) && old.get("data") != new.get("data") {
                out.push(Cause::forbidden(
                    "data",
                    "field is immutable when `immutable` is set",
                ));
            }
        }
        out
    }
}

/// ConfigMaps: key validation and immutability.
#[derive(Debug)]
pub struct ConfigMap;

impl Strategy for ConfigMap {
    fn validate(&self, old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        let mut out = Vec::new();
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
        out
    }
}

/// PersistentVolumeClaims: volume mode and phase defaults, access modes and size required.
#[derive(Debug)]
pub struct PersistentVolumeClaim;

impl Strategy for PersistentVolumeClaim {
    fn defaults(&self, obj: &mut Value) {
        set_in(obj, "spec", "volumeMode", json!("Filesystem"));
        set_in(obj, "status", "phase", json!("Pending"));
    }
    fn validate(&self, _old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        let mut out = Vec::new();
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
        out
    }
}

/// PersistentVolumes: reclaim policy, volume mode and phase defaults.
#[derive(Debug)]
pub struct PersistentVolume;

impl Strategy for PersistentVolume {
    fn defaults(&self, obj: &mut Value) {
        set_in(
            obj,
            "spec",
            "persistentVolumeReclaimPolicy",
            json!("Retain"),
        );
        set_in(obj, "spec", "volumeMode", json!("Filesystem"));
        set_in(obj, "status", "phase", json!("Pending"));
    }
}

/// LimitRanges: `default` from `max` and `defaultRequest` from `default` for containers.
#[derive(Debug)]
pub struct LimitRange;

impl Strategy for LimitRange {
    fn defaults(&self, obj: &mut Value) {
        for item in obj
            .pointer_mut("/spec/limits")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default_limit_range_item(item);
        }
    }
}

/// Upstream's defaulting of a LimitRange item of type `Container`.
pub fn default_limit_range_item(item: &mut Value) {
    if item.get("type").and_then(Value::as_str) != Some("Container") {
        return;
    }
    let Some(o) = item.as_object_mut() else {
        return;
    };
    let fill = |o: &mut Map<String, Value>, to: &str, from: &str| {
        let src = o
            .get(from)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let dst = o.entry(to).or_insert_with(|| json!({}));
        if let Some(d) = dst.as_object_mut() {
            for (k, v) in src {
                d.entry(k).or_insert(v);
            }
        }
        if dst.as_object().is_some_and(Map::is_empty) {
            o.remove(to);
        }
    };
    fill(o, "default", "max");
    fill(o, "defaultRequest", "default");
}

/// CSIStorageCapacities: the storage class they describe must be a valid class name.
#[derive(Debug)]
pub struct CsiStorageCapacity;

impl Strategy for CsiStorageCapacity {
    fn validate(&self, _old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        let class = new
            .get("storageClassName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        crate::kinds::names::validate_name(
            crate::kinds::names::NameRule::Subdomain,
            "storageClassName",
            class,
        )
    }
}

/// StorageClasses: reclaim policy and binding mode defaults.
#[derive(Debug)]
pub struct StorageClass;

impl Strategy for StorageClass {
    fn defaults(&self, obj: &mut Value) {
        if let Some(o) = obj.as_object_mut() {
            o.entry("reclaimPolicy").or_insert_with(|| json!("Delete"));
            o.entry("volumeBindingMode")
                .or_insert_with(|| json!("Immediate"));
        }
    }
}

/// PriorityClasses: preemption policy default, value required.
#[derive(Debug)]
pub struct PriorityClass;

impl Strategy for PriorityClass {
    fn defaults(&self, obj: &mut Value) {
        if let Some(o) = obj.as_object_mut() {
            o.entry("preemptionPolicy")
                .or_insert_with(|| json!("PreemptLowerPriority"));
        }
    }
    fn validate(&self, _old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        if new.get("value").and_then(Value::as_i64).is_none() {
            return vec![Cause::required("value", "")];
        }
        Vec::new()
    }
}

/// NetworkPolicies: `policyTypes` default.
#[derive(Debug)]
pub struct NetworkPolicy;

impl Strategy for NetworkPolicy {
    fn defaults(&self, obj: &mut Value) {
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
}

/// Nodes: an empty `spec` by default; the creator (the kubelet) sets `status`.
#[derive(Debug)]
pub struct Node;

impl Strategy for Node {
    fn defaults(&self, obj: &mut Value) {
        if let Some(o) = obj.as_object_mut() {
            o.entry("spec").or_insert_with(|| json!({}));
        }
    }
    fn resets_status_on_create(&self) -> bool {
        false
    }
}

/// Leases: positive durations; a PUT creates a missing lease.
#[derive(Debug)]
pub struct Lease;

impl Strategy for Lease {
    fn validate(&self, _old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        let mut out = Vec::new();
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
        out
    }
    fn allow_create_on_update(&self) -> bool {
        true
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
