//! ResourceQuota validation (upstream's `ValidateResourceQuota`): resource names and quantities
//! of `hard`/`used`, scopes, scope selectors, and which scopes may limit which resources.

use serde_json::{Value, json};

use crate::error::Cause;
use crate::quota::amount::Amount;
use crate::quota::scopes::SCOPES;
use crate::registry::def::{Origin, Strategy};

/// Resource names a quota may limit without a domain.
const STANDARD: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
];

/// Names counted in whole objects, which must be integers.
const INTEGER: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
];

const POD_COMPUTE: &[&str] = &[
    "cpu",
    "memory",
    "limits.cpu",
    "limits.memory",
    "requests.cpu",
    "requests.memory",
];

const EXISTS_ONLY: &[&str] = &[
    "BestEffort",
    "NotBestEffort",
    "Terminating",
    "NotTerminating",
    "CrossNamespacePodAffinity",
];

fn is_standard(name: &str) -> bool {
    STANDARD.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
}

/// Whether `scope` may limit standard resource `resource` (upstream
/// `IsResourceQuotaScopeValidForResource`).
fn scope_allows(scope: &str, resource: &str) -> bool {
    match scope {
        "BestEffort" => resource == "pods",
        "Terminating"
        | "NotTerminating"
        | "NotBestEffort"
        | "PriorityClass"
        | "CrossNamespacePodAffinity" => resource == "pods" || POD_COMPUTE.contains(&resource),
        _ => true,
    }
}

/// The ResourceQuota strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceQuota;

impl Strategy for ResourceQuota {
    fn validate(&self, _old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        let mut out = Vec::new();
        for (at, path) in [
            ("/spec/hard", "spec.hard"),
            ("/status/hard", "status.hard"),
            ("/status/used", "status.used"),
        ] {
            resource_list(new.pointer(at), path, &mut out);
        }
        let spec = new.get("spec").unwrap_or(&Value::Null);
        let hard: Vec<String> = spec
            .get("hard")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        scopes(spec, &hard, &mut out);
        scope_selector(spec, &hard, &mut out);
        out
    }
}

fn resource_list(list: Option<&Value>, path: &str, out: &mut Vec<Cause>) {
    let Some(m) = list.and_then(Value::as_object) else {
        return;
    };
    for (name, q) in m {
        let field = format!("{path}[{name}]");
        resource_name(name, &field, out);
        let text = q.as_str().map_or_else(|| q.to_string(), str::to_string);
        match Amount::parse(q) {
            None => out.push(Cause::invalid(
                &field,
                &json!(text),
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            )),
            Some(a) if a.milli < 0 => out.push(Cause::invalid(
                &field,
                &json!(text),
                "must be greater than or equal to 0",
            )),
            Some(a) if is_integer_resource(name) && a.milli % 1000 != 0 => {
                out.push(Cause::invalid(&field, &json!(text), "must be an integer"))
            }
            Some(_) => {}
        }
    }
}

fn is_integer_resource(name: &str) -> bool {
    INTEGER.contains(&name) || name.starts_with("count/")
}

fn resource_name(name: &str, field: &str, out: &mut Vec<Cause>) {
    if crate::selectors::validate_label_key(name).is_err() {
        out.push(Cause::invalid(
            field,
            &json!(name),
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ));
    } else if !name.contains('/') && !is_standard(name) {
        out.push(Cause::invalid(
            field,
            &json!(name),
            "must be a standard resource for quota",
        ));
    }
}

fn conflicting(scopes: &[&str]) -> bool {
    let has = |s: &str| scopes.contains(&s);
    (has("BestEffort") && has("NotBestEffort")) || (has("Terminating") && has("NotTerminating"))
}

fn misapplied(scope: &str, hard: &[String]) -> bool {
    hard.iter()
        .any(|k| is_standard(k) && !scope_allows(scope, k))
}

fn scopes(spec: &Value, hard: &[String], out: &mut Vec<Cause>) {
    let Some(list) = spec.get("scopes").filter(|s| !s.is_null()) else {
        return;
    };
    let names: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for s in &names {
        if !SCOPES.contains(s) {
            out.push(Cause::invalid("spec.scopes", list, "unsupported scope"));
        }
        if misapplied(s, hard) {
            out.push(Cause::invalid(
                "spec.scopes",
                list,
                "unsupported scope applied to resource",
            ));
        }
    }
    if conflicting(&names) {
        out.push(Cause::invalid("spec.scopes", list, "conflicting scopes"));
    }
}

fn scope_selector(spec: &Value, hard: &[String], out: &mut Vec<Cause>) {
    let Some(sel) = spec.get("scopeSelector").filter(|s| !s.is_null()) else {
        return;
    };
    let base = "spec.scopeSelector.matchExpressions";
    let mut names = Vec::new();
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let scope = e
            .get("scopeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let op = e
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let values = e
            .get("values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !SCOPES.contains(&scope) {
            out.push(Cause::invalid(
                &format!("{base}.scopeName"),
                &json!(scope),
                "unsupported scope",
            ));
        }
        if misapplied(scope, hard) {
            out.push(Cause::invalid(
                base,
                sel,
                "unsupported scope applied to resource",
            ));
        }
        if EXISTS_ONLY.contains(&scope) && op != "Exists" {
            out.push(Cause::invalid(&format!("{base}.operator"), &json!(op), "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"));
        }
        match op {
            "In" | "NotIn" if values.is_empty() => out.push(Cause::required(
                &format!("{base}.values"),
                "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => out.push(Cause::invalid(
                &format!("{base}.values"),
                &json!(values),
                "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            _ => out.push(Cause::invalid(
                &format!("{base}.operator"),
                &json!(op),
                "not a valid selector operator",
            )),
        }
        names.push(scope);
    }
    if conflicting(&names) {
        out.push(Cause::invalid(base, sel, "conflicting scopes"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn causes(q: Value) -> Vec<String> {
        ResourceQuota
            .validate(None, &q, Origin::Client)
            .iter()
            .map(Cause::display)
            .collect()
    }

    #[test]
    fn accepts_the_usual_quotas() {
        let q = json!({"spec": {"hard": {"pods": "5", "cpu": "1", "memory": "500Mi",
            "count/replicasets.apps": "5", "requests.example.com/dongle": "3",
            "gold.storageclass.storage.k8s.io/requests.storage": "10Gi"}}});
        assert!(causes(q).is_empty());
        let scoped = json!({"spec": {"hard": {"pods": "5", "requests.cpu": "1"}, "scopes": ["NotBestEffort"]}});
        assert!(causes(scoped).is_empty());
    }

    #[test]
    fn refuses_what_upstream_refuses() {
        let got = causes(json!({"spec": {"hard": {"pods": "1500m", "foo": "1", "cpu": "-1"}}}));
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.iter().any(|c| c.contains("must be an integer")));
        assert!(
            got.iter()
                .any(|c| c.contains("must be a standard resource for quota"))
        );
        let got = causes(
            json!({"spec": {"hard": {"cpu": "1"}, "scopes": ["BestEffort", "NotBestEffort"]}}),
        );
        assert!(
            got.iter().any(|c| c.contains("conflicting scopes")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|c| c.contains("unsupported scope applied to resource"))
        );
        let got = causes(
            json!({"spec": {"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In"},
            {"scopeName": "Terminating", "operator": "In", "values": ["x"]}]}}}),
        );
        assert_eq!(got.len(), 2, "{got:?}");
    }
}
