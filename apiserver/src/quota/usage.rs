//! Quota evaluators (upstream's `pkg/quota/v1/evaluator/core` and the generic object counter):
//! which quota resource names a kind answers for, and what one object of it uses.

use serde_json::Value;

use super::amount::{Amount, Resources, from_json};
use super::pod_usage;

/// Object-count names that exist without the `count/` prefix (upstream's legacy names).
const LEGACY_COUNTS: &[&str] = &[
    "configmaps",
    "secrets",
    "resourcequotas",
    "replicationcontrollers",
];

const SERVICE_RESOURCES: &[&str] = &[
    "services",
    "count/services",
    "services.nodeports",
    "services.loadbalancers",
];

const CLAIM_RESOURCES: &[&str] = &[
    "persistentvolumeclaims",
    "count/persistentvolumeclaims",
    "requests.storage",
];

const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";

/// How a kind is charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluator {
    /// Pods: compute resources and counts, with scopes.
    Pods,
    /// Services: counts, node ports and load balancers.
    Services,
    /// PersistentVolumeClaims: counts and storage, also per storage class.
    Claims,
    /// Any other resource: an object count under these names.
    Count(Vec<String>),
}

/// `count/<resource>` (core) or `count/<resource>.<group>`.
pub fn count_name(group: &str, resource: &str) -> String {
    if group.is_empty() {
        format!("count/{resource}")
    } else {
        format!("count/{resource}.{group}")
    }
}

/// The `(group, resource)` an object-count name counts (`count/replicasets.apps`, `secrets`).
pub fn counted_resource(name: &str) -> Option<(String, String)> {
    if LEGACY_COUNTS.contains(&name) {
        return Some((String::new(), name.to_string()));
    }
    let rest = name.strip_prefix("count/")?;
    Some(match rest.split_once('.') {
        Some((resource, group)) => (group.to_string(), resource.to_string()),
        None => (String::new(), rest.to_string()),
    })
}

impl Evaluator {
    /// The evaluator of a resource.
    pub fn of(group: &str, resource: &str) -> Evaluator {
        match (group, resource) {
            ("", "pods") => Evaluator::Pods,
            ("", "services") => Evaluator::Services,
            ("", "persistentvolumeclaims") => Evaluator::Claims,
            _ => {
                let mut names = vec![count_name(group, resource)];
                if group.is_empty() && LEGACY_COUNTS.contains(&resource) {
                    names.push(resource.to_string());
                }
                Evaluator::Count(names)
            }
        }
    }

    /// Whether updates are charged too (by their growth); otherwise only creates.
    pub fn charges_updates(&self) -> bool {
        matches!(self, Evaluator::Services | Evaluator::Claims)
    }

    /// The names among `names` this evaluator tracks.
    pub fn matching(&self, names: &[String]) -> Vec<String> {
        names.iter().filter(|n| self.tracks(n)).cloned().collect()
    }

    fn tracks(&self, name: &str) -> bool {
        match self {
            Evaluator::Pods => pod_usage::matches_resource(name),
            Evaluator::Services => SERVICE_RESOURCES.contains(&name),
            Evaluator::Claims => {
                CLAIM_RESOURCES.contains(&name)
                    || name.split_once(STORAGE_CLASS_SUFFIX).is_some_and(|(_, r)| {
                        r == "persistentvolumeclaims" || r == "requests.storage"
                    })
            }
            Evaluator::Count(names) => names.iter().any(|n| n == name),
        }
    }

    /// What one object uses.
    pub fn usage(&self, obj: &Value) -> Resources {
        match self {
            Evaluator::Pods => pod_usage::usage(obj),
            Evaluator::Services => service_usage(obj),
            Evaluator::Claims => claim_usage(obj),
            Evaluator::Count(names) => names
                .iter()
                .map(|n| (n.clone(), Amount::count(1)))
                .collect(),
        }
    }
}

fn service_usage(svc: &Value) -> Resources {
    let mut out = Resources::new();
    out.insert("services".into(), Amount::count(1));
    out.insert("count/services".into(), Amount::count(1));
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let all = i128::try_from(ports.len()).unwrap_or(i128::MAX);
    match svc.pointer("/spec/type").and_then(Value::as_str) {
        Some("NodePort") => {
            out.insert("services.nodeports".into(), Amount::count(all));
        }
        Some("LoadBalancer") => {
            let allocates = svc
                .pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false);
            let node_ports = if allocates {
                all
            } else {
                let explicit = ports
                    .iter()
                    .filter(|p| p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0)
                    .count();
                i128::try_from(explicit).unwrap_or(i128::MAX)
            };
            out.insert("services.nodeports".into(), Amount::count(node_ports));
            out.insert("services.loadbalancers".into(), Amount::count(1));
        }
        _ => {}
    }
    out
}

/// A claim's storage class: `spec.storageClassName`, or the beta annotation.
fn claim_class(pvc: &Value) -> Option<String> {
    pvc.pointer("/spec/storageClassName")
        .and_then(Value::as_str)
        .or_else(|| {
            pvc.pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
                .and_then(Value::as_str)
        })
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

fn claim_usage(pvc: &Value) -> Resources {
    let mut out = Resources::new();
    out.insert("persistentvolumeclaims".into(), Amount::count(1));
    out.insert("count/persistentvolumeclaims".into(), Amount::count(1));
    let class = claim_class(pvc);
    if let Some(c) = &class {
        out.insert(
            format!("{c}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"),
            Amount::count(1),
        );
    }
    let requests = from_json(pvc.pointer("/spec/resources/requests"));
    if let Some(storage) = requests.get("storage") {
        out.insert("requests.storage".into(), *storage);
        if let Some(c) = &class {
            out.insert(
                format!("{c}{STORAGE_CLASS_SUFFIX}requests.storage"),
                *storage,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::amount::pretty;
    use super::*;
    use serde_json::json;

    #[test]
    fn names_of_counted_resources() {
        assert_eq!(
            counted_resource("count/replicasets.apps"),
            Some(("apps".into(), "replicasets".into()))
        );
        assert_eq!(
            counted_resource("count/foos.stable.example.com"),
            Some(("stable.example.com".into(), "foos".into()))
        );
        assert_eq!(
            counted_resource("secrets"),
            Some((String::new(), "secrets".into()))
        );
        assert_eq!(counted_resource("cpu"), None);
        let ev = Evaluator::of("", "configmaps");
        assert_eq!(
            pretty(&ev.usage(&json!({}))),
            "configmaps=1,count/configmaps=1"
        );
    }

    #[test]
    fn services_charge_node_ports_and_load_balancers() {
        let np = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        assert_eq!(
            pretty(&service_usage(&np)),
            "count/services=1,services=1,services.nodeports=1"
        );
        let lb = json!({"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false,
            "ports": [{"port": 80}, {"port": 81, "nodePort": 30001}]}});
        assert_eq!(
            pretty(&service_usage(&lb)),
            "count/services=1,services=1,services.loadbalancers=1,services.nodeports=1"
        );
    }

    #[test]
    fn claims_charge_storage_per_class() {
        let pvc = json!({"spec": {"storageClassName": "gold", "resources": {"requests": {"storage": "1Gi"}}}});
        assert_eq!(
            pretty(&claim_usage(&pvc)),
            "count/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/requests.storage=1Gi,persistentvolumeclaims=1,requests.storage=1Gi"
        );
        let ev = Evaluator::Claims;
        assert_eq!(
            ev.matching(&[
                "gold.storageclass.storage.k8s.io/requests.storage".into(),
                "cpu".into()
            ]),
            vec!["gold.storageclass.storage.k8s.io/requests.storage".to_string()]
        );
    }
}
