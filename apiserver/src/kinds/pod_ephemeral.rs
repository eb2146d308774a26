//! Ephemeral containers (`kubectl debug`): refused on create, added only through the
//! `pods/ephemeralcontainers` subresource, never changed or removed once added (upstream's
//! `ValidatePodCreate` and `ValidatePodEphemeralContainersUpdate`).

use serde_json::{Value, json};

use super::names::{is_dns_label, label_message};
use crate::error::Cause;

const FIELD: &str = "spec.ephemeralContainers";

/// Fields an ephemeral container may not set (they would need resources or ports that the
/// running pod never reserved).
const NOT_ALLOWED: &[&str] = &[
    "ports",
    "lifecycle",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "restartPolicy",
];

fn containers<'v>(spec: &'v Value, key: &str) -> &'v [Value] {
    spec.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn name_of(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// A new pod may not bring ephemeral containers.
pub fn validate_create(pod: &Value, out: &mut Vec<Cause>) {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    if !containers(spec, "ephemeralContainers").is_empty() {
        out.push(Cause::forbidden(FIELD, "cannot be set on create"));
    }
}

/// An update through `pods/ephemeralcontainers`: existing ones stay as they are, new ones are
/// valid ephemeral containers.
pub fn validate_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let null = Value::Null;
    let old_spec = old.get("spec").unwrap_or(&null);
    let new_spec = new.get("spec").unwrap_or(&null);
    let before = containers(old_spec, "ephemeralContainers");
    let after = containers(new_spec, "ephemeralContainers");
    for (i, ec) in before.iter().enumerate() {
        let name = name_of(ec);
        match after.iter().find(|n| name_of(n) == name) {
            None => out.push(Cause::forbidden(
                FIELD,
                &format!("existing ephemeral containers \"{name}\" may not be removed"),
            )),
            Some(now) if now != ec => out.push(Cause::forbidden(
                &format!("{FIELD}[{i}]"),
                &format!("existing ephemeral containers \"{name}\" may not be changed"),
            )),
            Some(_) => {}
        }
    }
    let regular: Vec<&str> = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| containers(new_spec, k))
        .map(name_of)
        .collect();
    let mut seen: Vec<&str> = regular.clone();
    for (i, ec) in after.iter().enumerate() {
        let is_new = !before.iter().any(|b| name_of(b) == name_of(ec));
        if is_new {
            validate_new(ec, &format!("{FIELD}[{i}]"), &regular, &seen, &mut out);
        }
        seen.push(name_of(ec));
    }
    out
}

fn validate_new(ec: &Value, p: &str, regular: &[&str], seen: &[&str], out: &mut Vec<Cause>) {
    let name = name_of(ec);
    if name.is_empty() {
        out.push(Cause::required(&format!("{p}.name"), ""));
    } else if !is_dns_label(name) {
        out.push(Cause::invalid(
            &format!("{p}.name"),
            &json!(name),
            label_message(),
        ));
    } else if seen.contains(&name) {
        out.push(Cause::duplicate(&format!("{p}.name"), &json!(name)));
    }
    if ec
        .get("image")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        out.push(Cause::required(&format!("{p}.image"), ""));
    }
    for field in NOT_ALLOWED {
        if ec.get(*field).is_some_and(|v| !v.is_null()) {
            out.push(Cause::forbidden(
                &format!("{p}.{field}"),
                "cannot be set for an Ephemeral Container",
            ));
        }
    }
    if ec
        .get("resources")
        .and_then(Value::as_object)
        .is_some_and(|r| {
            r.values()
                .any(|v| v.as_object().is_none_or(|m| !m.is_empty()))
        })
    {
        out.push(Cause::forbidden(
            &format!("{p}.resources"),
            "cannot be set for an Ephemeral Container",
        ));
    }
    if let Some(target) = ec.get("targetContainerName").and_then(Value::as_str)
        && !target.is_empty()
        && !regular.contains(&target)
    {
        out.push(Cause::not_found(
            &format!("{p}.targetContainerName"),
            &json!(target),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ephemeral: Value) -> Value {
        json!({"spec": {"containers": [{"name": "app", "image": "nginx"}],
                        "ephemeralContainers": ephemeral}})
    }

    #[test]
    fn refused_on_create() {
        let mut out = Vec::new();
        validate_create(&pod(json!([{"name": "dbg", "image": "busybox"}])), &mut out);
        assert_eq!(out.len(), 1);
        validate_create(&pod(json!([])), &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn added_but_never_changed_or_removed() {
        let one = pod(json!([{"name": "dbg", "image": "busybox", "targetContainerName": "app"}]));
        assert!(validate_update(&pod(json!([])), &one).is_empty());
        let changed = pod(json!([{"name": "dbg", "image": "alpine"}]));
        assert!(
            validate_update(&one, &changed)[0]
                .message
                .contains("may not be changed")
        );
        assert!(
            validate_update(&one, &pod(json!([])))[0]
                .message
                .contains("may not be removed")
        );
    }

    #[test]
    fn new_ones_are_checked() {
        let bad = pod(
            json!([{"name": "app", "image": "", "ports": [{"containerPort": 80}],
                              "resources": {"limits": {"cpu": "1"}},
                              "targetContainerName": "nope"}]),
        );
        let causes = validate_update(&pod(json!([])), &bad);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.ephemeralContainers[0].name",
                "spec.ephemeralContainers[0].image",
                "spec.ephemeralContainers[0].ports",
                "spec.ephemeralContainers[0].resources",
                "spec.ephemeralContainers[0].targetContainerName",
            ]
        );
    }
}
