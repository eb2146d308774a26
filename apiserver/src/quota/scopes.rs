//! Quota scopes: `spec.scopes` and `spec.scopeSelector`, and which objects they select.

use serde_json::Value;

use super::pod_usage;
use super::usage::Evaluator;

/// Every scope upstream knows.
pub const SCOPES: &[&str] = &[
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
];

/// One scope requirement (a plain scope is `Exists`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequirement {
    /// Scope name.
    pub scope: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In`/`NotIn`.
    pub values: Vec<String>,
}

/// A quota's scope requirements: its scopes, then its scope selector's expressions.
pub fn requirements(quota: &Value) -> Vec<ScopeRequirement> {
    let plain = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| ScopeRequirement {
            scope: s.to_string(),
            operator: "Exists".into(),
            values: Vec::new(),
        });
    let selected = quota
        .pointer("/spec/scopeSelector/matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| ScopeRequirement {
            scope: str_of(e, "scopeName"),
            operator: str_of(e, "operator"),
            values: e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        });
    plain.chain(selected).collect()
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Whether an object of `evaluator` is selected by every requirement (none selects all; only
/// pods can match a scope).
pub fn selects(evaluator: &Evaluator, reqs: &[ScopeRequirement], obj: &Value) -> bool {
    reqs.iter().all(|r| match evaluator {
        Evaluator::Pods => pod_matches(r, obj),
        _ => false,
    })
}

fn pod_matches(req: &ScopeRequirement, pod: &Value) -> bool {
    match req.scope.as_str() {
        "Terminating" => pod_usage::is_terminating(pod),
        "NotTerminating" => !pod_usage::is_terminating(pod),
        "BestEffort" => pod_usage::is_best_effort(pod),
        "NotBestEffort" => !pod_usage::is_best_effort(pod),
        "CrossNamespacePodAffinity" => pod_usage::uses_cross_namespace_affinity(pod),
        "PriorityClass" => {
            let class = pod
                .pointer("/spec/priorityClassName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            // Upstream matches a one-label set {PriorityClass: <name>}, so the key always exists.
            match req.operator.as_str() {
                "Exists" => !class.is_empty(),
                "In" => req.values.iter().any(|v| v == class),
                "NotIn" => !req.values.iter().any(|v| v == class),
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scopes_select_pods_only() {
        let quota = json!({"spec": {"scopes": ["BestEffort"], "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["low"]}]}}});
        let reqs = requirements(&quota);
        assert_eq!(reqs.len(), 2);
        let pod = json!({"spec": {"priorityClassName": "low", "containers": [{"name": "a"}]}});
        assert!(selects(&Evaluator::Pods, &reqs, &pod));
        let high = json!({"spec": {"priorityClassName": "high", "containers": [{"name": "a"}]}});
        assert!(!selects(&Evaluator::Pods, &reqs, &high));
        assert!(!selects(&Evaluator::Services, &reqs, &json!({})));
        assert!(selects(&Evaluator::Services, &[], &json!({})));
    }
}
