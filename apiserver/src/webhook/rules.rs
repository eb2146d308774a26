//! Which requests a webhook is called for: its rules (operations, groups, versions,
//! resources with subresources, scope), its namespace selector and its object selector, as
//! upstream's webhook matchers decide.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::kinds::workload::selector_from_json;

/// A request as webhook rules see it.
#[derive(Debug, Clone)]
pub struct RequestAttributes<'a> {
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: &'a str,
    /// API group ("" for core).
    pub group: &'a str,
    /// Version.
    pub version: &'a str,
    /// Resource plural.
    pub resource: &'a str,
    /// Subresource, if any.
    pub subresource: Option<&'a str>,
    /// Whether the resource is namespaced.
    pub namespaced: bool,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// Whether one of the rule's resource patterns covers the resource and subresource.
fn resource_matches(patterns: &[String], resource: &str, sub: Option<&str>) -> bool {
    patterns.iter().any(|p| {
        let (res, psub) = match p.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (p.as_str(), None),
        };
        let res_ok = res == "*" || res == resource;
        let sub_ok = match (psub, sub) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some(_), None) => false,
            (Some(ps), Some(s)) => ps == "*" || ps == s,
        };
        res_ok && sub_ok
    })
}

/// Whether rule `rule` (a `RuleWithOperations`) covers the request.
pub fn rule_matches(rule: &Value, a: &RequestAttributes<'_>) -> bool {
    let scope_ok = match rule.get("scope").and_then(Value::as_str).unwrap_or("*") {
        "Cluster" => !a.namespaced,
        "Namespaced" => a.namespaced,
        _ => true,
    };
    scope_ok
        && has(&strings(rule, "operations"), a.operation)
        && has(&strings(rule, "apiGroups"), a.group)
        && has(&strings(rule, "apiVersions"), a.version)
        && resource_matches(&strings(rule, "resources"), a.resource, a.subresource)
}

/// Whether any rule of webhook `w` covers the request.
pub fn rules_match(w: &Value, a: &RequestAttributes<'_>) -> bool {
    w.get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| rule_matches(r, a))
}

/// Whether label selector `sel` (absent or `{}`: everything) selects `labels`; an invalid
/// selector selects nothing.
pub fn selector_matches(sel: Option<&Value>, labels: &BTreeMap<String, String>) -> bool {
    match sel.filter(|s| !s.is_null()) {
        None => true,
        Some(s) => selector_from_json(s).is_some_and(|ls| ls.matches_map(labels)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs<'a>(op: &'a str, resource: &'a str, sub: Option<&'a str>) -> RequestAttributes<'a> {
        RequestAttributes {
            operation: op,
            group: "",
            version: "v1",
            resource,
            subresource: sub,
            namespaced: true,
        }
    }

    #[test]
    fn rules_cover_operations_resources_and_subresources() {
        let rule = json!({"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods", "configmaps/*"], "scope": "*"});
        assert!(rule_matches(&rule, &attrs("CREATE", "pods", None)));
        assert!(!rule_matches(&rule, &attrs("DELETE", "pods", None)));
        assert!(!rule_matches(
            &rule,
            &attrs("CREATE", "pods", Some("status"))
        ));
        assert!(rule_matches(
            &rule,
            &attrs("UPDATE", "configmaps", Some("status"))
        ));
        assert!(!rule_matches(&rule, &attrs("UPDATE", "configmaps", None)));
        let all = json!({"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"], "scope": "Cluster"});
        assert!(!rule_matches(&all, &attrs("CREATE", "pods", None)));
        let cluster = RequestAttributes {
            namespaced: false,
            ..attrs("CREATE", "namespaces", Some("finalize"))
        };
        assert!(rule_matches(&all, &cluster));
    }

    #[test]
    fn selectors() {
        let labels = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        assert!(selector_matches(None, &labels));
        assert!(selector_matches(Some(&json!({})), &labels));
        assert!(selector_matches(
            Some(&json!({"matchLabels": {"env": "prod"}})),
            &labels
        ));
        assert!(!selector_matches(
            Some(
                &json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]})
            ),
            &labels
        ));
    }
}
