//! The virtual nodes a tenant sees before (and besides) those its pods run on: a few of the
//! super nodes its placement allows, so that a fresh tenant has ready, schedulable nodes as
//! clients and conformance checks expect. Only nodes the tenant's pods could be scheduled to
//! are shown, at most `vnodes_before_pods` of them, chosen per tenant by a stable hash so that
//! tenants spread over the pool and the choice holds while the pool does.

use std::hash::{Hash, Hasher};

use crds::{Placement, PlacementToleration};
use k8s_openapi::api::core::v1::{Node, Taint};
use kube::ResourceExt;

use crate::convert::node::is_ready;

/// Whether granted toleration `g` tolerates `taint`.
fn tolerates(g: &PlacementToleration, taint: &Taint) -> bool {
    let effect = g.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = g.key.as_deref().unwrap_or_default();
    if g.operator.as_deref() == Some("Exists") {
        return key.is_empty() || key == taint.key;
    }
    key == taint.key
        && g.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
}

/// Whether the tenant's pods could be scheduled to super node `node`: Ready, schedulable,
/// labelled as the placement selects, and every scheduling taint tolerated.
pub fn eligible(placement: &Placement, node: &Node) -> bool {
    let spec = node.spec.clone().unwrap_or_default();
    if spec.unschedulable == Some(true) || !is_ready(node) {
        return false;
    }
    let labels = node.labels();
    if placement
        .node_selector
        .iter()
        .any(|(k, v)| labels.get(k) != Some(v))
    {
        return false;
    }
    spec.taints.unwrap_or_default().iter().all(|t| {
        t.effect == "PreferNoSchedule" || placement.tolerations.iter().any(|g| tolerates(g, t))
    })
}

fn rank(tenant: &str, node: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (tenant, node).hash(&mut h);
    h.finish()
}

/// The names of the (at most `n`) eligible super nodes tenant `tenant` is shown.
pub fn preview_set<'a>(
    tenant: &str,
    placement: &Placement,
    nodes: impl IntoIterator<Item = &'a Node>,
    n: usize,
) -> Vec<String> {
    let mut names: Vec<String> = nodes
        .into_iter()
        .filter(|node| eligible(placement, node))
        .map(|node| node.name_any())
        .collect();
    names.sort_by_key(|name| (rank(tenant, name), name.clone()));
    names.truncate(n);
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value, ready: bool) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap_or_default()
    }

    #[test]
    fn only_nodes_the_placement_allows_are_shown() {
        let placement: Placement = serde_json::from_value(json!({
            "nodeSelector": {"pool": "a"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "a", "effect": "NoSchedule"}]
        }))
        .unwrap_or_default();
        let nodes = [
            node("a1", json!({"pool": "a"}), json!([]), true),
            node(
                "a2",
                json!({"pool": "a"}),
                json!([{"key": "dedicated", "value": "a", "effect": "NoSchedule"}]),
                true,
            ),
            node(
                "a3",
                json!({"pool": "a"}),
                json!([{"key": "gpu", "effect": "NoSchedule"}]),
                true,
            ),
            node("a4", json!({"pool": "a"}), json!([]), false),
            node("b1", json!({"pool": "b"}), json!([]), true),
        ];
        let mut shown = preview_set("t1", &placement, &nodes, 10);
        shown.sort();
        assert_eq!(shown, vec!["a1", "a2"]);
        assert_eq!(preview_set("t1", &placement, &nodes, 1).len(), 1);
        assert!(preview_set("t1", &placement, &nodes, 0).is_empty());
    }

    #[test]
    fn the_choice_is_stable_and_spreads_tenants() {
        let nodes: Vec<Node> = (0..20)
            .map(|i| node(&format!("n{i}"), json!({}), json!([]), true))
            .collect();
        let p = Placement::default();
        assert_eq!(
            preview_set("t1", &p, &nodes, 2),
            preview_set("t1", &p, &nodes, 2)
        );
        let firsts: std::collections::HashSet<String> = (0..20)
            .map(|t| preview_set(&format!("tenant-{t}"), &p, &nodes, 1)[0].clone())
            .collect();
        assert!(firsts.len() > 5, "{firsts:?}");
    }
}
