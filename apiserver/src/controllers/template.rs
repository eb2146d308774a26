//! Pod templates as the workload controllers compare and name them: equality as upstream's
//! (nulls are absent fields, the hash label ignored) and the `pod-template-hash`.

use serde_json::Value;

/// The label carrying a template's hash on ReplicaSets and their pods.
pub const HASH_LABEL: &str = "pod-template-hash";

/// The template as upstream compares it: nulls are absent fields (`kubectl rollout undo`
/// sends `creationTimestamp: null`, which Go decodes to the same struct), no hash label.
fn strip_hash(t: &Value) -> Value {
    let mut t = without_nulls(t);
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove(HASH_LABEL);
        if l.is_empty()
            && let Some(m) = t.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("labels");
        }
    }
    t
}

/// `v` with every null-valued object field removed, recursively.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Whether a ReplicaSet's template is the deployment's.
pub fn same_template(rs: &Value, template: &Value) -> bool {
    rs.pointer("/spec/template").map(strip_hash) == Some(strip_hash(template))
}

/// FNV-32a of the template, rendered with upstream's safe alphabet (as `pod-template-hash`).
pub fn template_hash(template: &Value) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in without_nulls(template).to_string().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_fields_and_the_hash_label_do_not_make_a_new_template() {
        let t = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}});
        let undo = json!({"metadata": {"creationTimestamp": null, "labels": {"app": "web", HASH_LABEL: "abc"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1", "resources": null}]}});
        assert_eq!(template_hash(&t), template_hash(&strip_hash(&undo)));
        assert!(same_template(&json!({"spec": {"template": undo}}), &t));
        let other = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}});
        assert!(!same_template(&json!({"spec": {"template": other}}), &t));
    }
}
