//! Upstream's default RBAC policy (ClusterRoles, ClusterRoleBindings and the kube-system /
//! kube-public Roles and RoleBindings of v1.28, in `bootstrap_policy.json`, read from a real
//! v1.28 server) and its reconciliation: what is missing is added, user additions are kept,
//! objects annotated `rbac.authorization.kubernetes.io/autoupdate: "false"` are left alone.

use serde_json::{Value, json};

use super::covers::covers;
use super::rule::PolicyRule;

const AUTOUPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";

/// The default policy objects, in creation order (roles before bindings).
pub fn objects() -> Vec<Value> {
    serde_json::from_str::<Vec<Value>>(include_str!("bootstrap_policy.json")).unwrap_or_else(|e| {
        tracing::error!(error = %e, "bootstrap policy data unreadable");
        Vec::new()
    })
}

/// Storage group/resource of a policy object.
pub fn resource_of(obj: &Value) -> &'static str {
    match obj.get("kind").and_then(Value::as_str) {
        Some("ClusterRole") => "clusterroles",
        Some("Role") => "roles",
        Some("ClusterRoleBinding") => "clusterrolebindings",
        _ => "rolebindings",
    }
}

fn merge_map(existing: &mut Value, expected: &Value, field: &str) -> bool {
    let Some(want) = expected
        .pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_object)
    else {
        return false;
    };
    let mut changed = false;
    let meta = crate::meta::meta_mut(existing);
    let have = meta.entry(field).or_insert_with(|| json!({}));
    if let Some(have) = have.as_object_mut() {
        for (k, v) in want {
            if !have.contains_key(k) {
                have.insert(k.clone(), v.clone());
                changed = true;
            }
        }
    }
    changed
}

fn append_missing(existing: &mut Value, pointer: &str, wanted: &[Value]) -> bool {
    let mut changed = false;
    let parent = pointer.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
    let key = pointer.rsplit('/').next().unwrap_or_default();
    let Some(target) = existing.pointer_mut(parent).and_then(Value::as_object_mut) else {
        return false;
    };
    let list = target.entry(key).or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(items) = list.as_array_mut() {
        for w in wanted {
            if !items.contains(w) {
                items.push(w.clone());
                changed = true;
            }
        }
    }
    changed
}

/// The existing object brought up to `expected` (missing labels, annotations, rules,
/// aggregation selectors and subjects added), or `None` when nothing is missing or the object
/// opted out of updates.
pub fn reconcile(existing: &Value, expected: &Value) -> Option<Value> {
    if existing
        .pointer(&format!(
            "/metadata/annotations/{}",
            AUTOUPDATE.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        == Some("false")
    {
        return None;
    }
    let mut out = existing.clone();
    let mut changed = merge_map(&mut out, expected, "labels");
    changed |= merge_map(&mut out, expected, "annotations");
    match expected.get("kind").and_then(Value::as_str) {
        Some("ClusterRole" | "Role") => {
            let (_, missing) = covers(
                &PolicyRule::list_from(existing),
                &PolicyRule::list_from(expected),
            );
            let missing: Vec<Value> = missing.iter().map(PolicyRule::to_json).collect();
            if !missing.is_empty() {
                changed |= append_missing(&mut out, "/rules", &missing);
            }
            if let Some(sel) = expected
                .pointer("/aggregationRule/clusterRoleSelectors")
                .and_then(Value::as_array)
            {
                if out.get("aggregationRule").is_none_or(Value::is_null) {
                    out["aggregationRule"] = json!({"clusterRoleSelectors": []});
                }
                changed |= append_missing(&mut out, "/aggregationRule/clusterRoleSelectors", sel);
            }
        }
        _ => {
            if let Some(subjects) = expected.get("subjects").and_then(Value::as_array) {
                changed |= append_missing(&mut out, "/subjects", subjects);
            }
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_has_upstream_defaults() {
        let objs = objects();
        let names: Vec<&str> = objs.iter().map(crate::meta::name).collect();
        for n in [
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "system:discovery",
            "system:basic-user",
            "system:public-info-viewer",
            "system:service-account-issuer-discovery",
            "system:node",
            "system:node-proxier",
            "system:kube-controller-manager",
            "system:kube-scheduler",
            "system:monitoring",
            "system:heapster",
            "system:aggregate-to-view",
        ] {
            assert!(names.contains(&n), "{n}");
        }
    }

    #[test]
    fn reconcile_adds_and_keeps() {
        let expected = json!({"kind": "ClusterRole", "metadata": {"name": "r", "labels": {"a": "1"}},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]});
        let existing = json!({"kind": "ClusterRole", "metadata": {"name": "r", "labels": {"mine": "x"}},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                      {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]});
        let out = reconcile(&existing, &expected).expect("changed");
        assert_eq!(out["metadata"]["labels"], json!({"mine": "x", "a": "1"}));
        assert_eq!(out["rules"].as_array().map(Vec::len), Some(3));
        assert!(reconcile(&out, &expected).is_none());
        let mut opted_out = existing.clone();
        opted_out["metadata"]["annotations"] = json!({AUTOUPDATE: "false"});
        assert!(reconcile(&opted_out, &expected).is_none());
        let b = json!({"kind": "ClusterRoleBinding", "metadata": {"name": "b"},
            "subjects": [{"kind": "Group", "name": "g"}]});
        let mine = json!({"kind": "ClusterRoleBinding", "metadata": {"name": "b"},
            "subjects": [{"kind": "User", "name": "u"}]});
        let out = reconcile(&mine, &b).expect("changed");
        assert_eq!(out["subjects"].as_array().map(Vec::len), Some(2));
    }
}
