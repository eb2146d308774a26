//! What a pod charges against a quota (upstream's pod evaluator): its effective requests and
//! limits, whether it still counts as a compute consumer, and its quota scopes.

use serde_json::Value;

use super::amount::{Amount, Resources, add, from_json};
use crate::meta;

/// The compute resources a quota on cpu/memory requires every container to state.
pub const VALIDATED: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// Resource names the pod evaluator tracks besides prefixed and extended ones.
pub const POD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "count/pods",
];

/// Whether a resource name is native to Kubernetes (no domain, or a `kubernetes.io` one).
pub fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Whether a quota resource name is one the pod evaluator tracks.
pub fn matches_resource(name: &str) -> bool {
    POD_RESOURCES.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
        || (!is_native(name) && name.starts_with("requests."))
}

/// The usage of one container's (or a whole pod's) requests and limits.
pub fn compute_usage(requests: &Resources, limits: &Resources) -> Resources {
    let mut out = Resources::new();
    out.insert("pods".into(), Amount::count(1));
    let mut put = |k: &str, v: Amount| {
        out.insert(k.to_string(), v);
    };
    for base in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(r) = requests.get(base) {
            put(base, *r);
            put(&format!("requests.{base}"), *r);
        }
        if let Some(l) = limits.get(base) {
            put(&format!("limits.{base}"), *l);
        }
    }
    for (name, r) in requests {
        if name.starts_with("hugepages-") {
            put(name, *r);
            put(&format!("requests.{name}"), *r);
        } else if !is_native(name) && !name.starts_with("requests.") {
            put(&format!("requests.{name}"), *r);
        }
    }
    out
}

fn container_list<'a>(spec: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    spec.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn container_resources(c: &Value, which: &str) -> Resources {
    from_json(c.pointer(&format!("/resources/{which}")))
}

/// Per resource, the larger of two lists.
fn max_of(a: &Resources, b: &Resources) -> Resources {
    let mut out = a.clone();
    for (k, v) in b {
        match out.get_mut(k) {
            Some(x) if x.milli >= v.milli => {}
            Some(x) => *x = *v,
            None => {
                out.insert(k.clone(), *v);
            }
        }
    }
    out
}

/// A pod's effective `requests` or `limits`: the sum over its containers, at least the largest
/// init container's, plus the pod overhead (for limits, only where a limit is set).
pub fn pod_total(pod: &Value, which: &str) -> Resources {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let mut sum = Resources::new();
    for c in container_list(spec, "containers") {
        sum = add(&sum, &container_resources(c, which));
    }
    for c in container_list(spec, "initContainers") {
        sum = max_of(&sum, &container_resources(c, which));
    }
    let overhead = from_json(spec.get("overhead"));
    for (k, v) in overhead {
        match sum.get_mut(&k) {
            Some(x) => x.milli += v.milli,
            None if which == "requests" => {
                sum.insert(k, v);
            }
            None => {}
        }
    }
    sum
}

/// Whether a pod still consumes compute quota: not terminal, and not past its deletion grace.
pub fn consumes_compute(pod: &Value) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    let deletion = meta::meta_str(pod, "deletionTimestamp").and_then(meta::parse_time);
    let grace = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    if let (Some(at), Some(grace)) = (deletion, grace) {
        let end = at.as_second().saturating_add(grace);
        if jiff::Timestamp::now().as_second() > end {
            return false;
        }
    }
    true
}

/// What a pod charges: `count/pods` always, compute resources while it consumes them.
pub fn usage(pod: &Value) -> Resources {
    let mut out = Resources::new();
    out.insert("count/pods".into(), Amount::count(1));
    if !consumes_compute(pod) {
        return out;
    }
    let compute = compute_usage(&pod_total(pod, "requests"), &pod_total(pod, "limits"));
    add(&out, &compute)
}

/// The compute names a container states, as the `cpu`/`memory` quota constraint checks them.
fn stated(c: &Value) -> Vec<String> {
    compute_usage(
        &container_resources(c, "requests"),
        &container_resources(c, "limits"),
    )
    .into_keys()
    .collect()
}

/// Upstream's pod constraint: a quota on cpu or memory needs every container to state them.
/// Returns the missing names, sorted.
pub fn missing_constraints(pod: &Value, restricted: &[String]) -> Vec<String> {
    let required: Vec<&String> = restricted
        .iter()
        .filter(|r| VALIDATED.contains(&r.as_str()))
        .collect();
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let mut missing: Vec<String> = Vec::new();
    for c in container_list(spec, "containers").chain(container_list(spec, "initContainers")) {
        let have = stated(c);
        for r in &required {
            if !have.contains(r) && !missing.contains(r) {
                missing.push((*r).clone());
            }
        }
    }
    missing.sort();
    missing
}

/// `activeDeadlineSeconds` set (and not negative): the pod ends by itself.
pub fn is_terminating(pod: &Value) -> bool {
    pod.pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|s| s >= 0)
}

/// The BestEffort QoS class: no container requests or limits cpu or memory above zero.
pub fn is_best_effort(pod: &Value) -> bool {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    !container_list(spec, "containers")
        .chain(container_list(spec, "initContainers"))
        .any(|c| {
            ["requests", "limits"].iter().any(|w| {
                let r = container_resources(c, w);
                ["cpu", "memory"]
                    .iter()
                    .any(|k| r.get(*k).is_some_and(|a| a.milli > 0))
            })
        })
}

/// Whether a pod's (anti-)affinity terms reach other namespaces.
pub fn uses_cross_namespace_affinity(pod: &Value) -> bool {
    let Some(aff) = pod.pointer("/spec/affinity") else {
        return false;
    };
    ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
        let Some(a) = aff.get(*kind) else {
            return false;
        };
        let required = a
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        let preferred = a
            .get("preferredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| w.get("podAffinityTerm"));
        required.chain(preferred).any(|t| {
            t.get("namespaceSelector").is_some_and(|s| !s.is_null())
                || t.get("namespaces")
                    .and_then(Value::as_array)
                    .is_some_and(|n| !n.is_empty())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::amount::pretty;
    use super::*;
    use serde_json::json;

    fn pod(containers: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": containers}, "status": {"phase": "Pending"}})
    }

    #[test]
    fn charges_requests_limits_and_extended_resources() {
        let p = pod(json!([{"name": "a", "resources": {
            "requests": {"cpu": "500m", "memory": "252Mi", "ephemeral-storage": "30Gi", "example.com/dongle": "2"},
            "limits": {"example.com/dongle": "2", "memory": "300Mi"}
        }}]));
        assert_eq!(
            pretty(&usage(&p)),
            "count/pods=1,cpu=500m,ephemeral-storage=30Gi,limits.memory=300Mi,memory=252Mi,pods=1,requests.cpu=500m,requests.ephemeral-storage=30Gi,requests.example.com/dongle=2,requests.memory=252Mi"
        );
    }

    #[test]
    fn init_containers_count_by_their_maximum() {
        let mut p = pod(json!([
            {"name": "a", "resources": {"requests": {"cpu": "100m"}}},
            {"name": "b", "resources": {"requests": {"cpu": "100m"}}}
        ]));
        p["spec"]["initContainers"] =
            json!([{"name": "i", "resources": {"requests": {"cpu": "300m"}}}]);
        assert_eq!(pod_total(&p, "requests")["cpu"].text(), "300m");
    }

    #[test]
    fn terminal_pods_only_count_as_objects() {
        let mut p = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "1"}}}]));
        p["status"]["phase"] = json!("Succeeded");
        assert_eq!(pretty(&usage(&p)), "count/pods=1");
    }

    #[test]
    fn scopes_and_constraints() {
        let be = pod(json!([{"name": "a"}]));
        assert!(is_best_effort(&be));
        assert!(!is_terminating(&be));
        let mut burst = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "1"}}}]));
        assert!(!is_best_effort(&burst));
        burst["spec"]["activeDeadlineSeconds"] = json!(3600);
        assert!(is_terminating(&burst));
        let restricted = vec!["cpu".to_string(), "memory".to_string(), "pods".to_string()];
        assert_eq!(missing_constraints(&burst, &restricted), vec!["memory"]);
        assert_eq!(missing_constraints(&be, &restricted), vec!["cpu", "memory"]);
    }
}
