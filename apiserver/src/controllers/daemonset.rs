//! DaemonSets run one pod from their template on every eligible node: the node matches the
//! template's `nodeSelector` and its taints are tolerated (with the tolerations upstream adds to
//! every daemon pod). Pods are pinned with a `metadata.name` node affinity term, replaced one
//! node at a time when the template changes (`controller-revision-hash`), and counted in the
//! status `kubectl rollout status` reads.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::replicaset::{create_pod, is_active, is_ready, owned_pods};
use super::runtime::{Controller, Key, Requeue, keys_of, owner_keys};
use super::template::template_hash;
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::{meta, storage};

/// Label with the template revision a daemon pod was made from.
const REVISION_LABEL: &str = "controller-revision-hash";

/// The daemonset controller.
#[derive(Default)]
pub struct DaemonSetController {
    /// What decides eligibility (labels, taints, deletion) per node, as last seen: node
    /// heartbeats change none of it and must not re-sync every daemonset.
    nodes: Mutex<HashMap<String, u64>>,
}

impl DaemonSetController {
    /// Whether the node's eligibility inputs changed since the last event about it.
    fn node_changed(&self, api: &Api, change: &Change) -> bool {
        let node = api
            .store
            .get("/nodes", "", &change.name)
            .and_then(|o| o.value().ok());
        let mut seen = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let Some(node) = node.filter(|_| !change.deleted) else {
            return seen.remove(&change.name).is_some();
        };
        let inputs = json!([
            node.pointer("/metadata/labels"),
            node.pointer("/spec/taints"),
            node.pointer("/metadata/deletionTimestamp"),
        ]);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        inputs.to_string().hash(&mut h);
        seen.insert(change.name.clone(), h.finish()) != Some(h.finish())
    }
}

impl Controller for DaemonSetController {
    fn name(&self) -> &'static str {
        "daemonset"
    }

    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key> {
        if change.storage == "/nodes" {
            if !self.node_changed(api, change) {
                return Vec::new();
            }
            return keys_of(api, "apps/daemonsets");
        }
        owner_keys(change, "apps/daemonsets", "/pods", "DaemonSet")
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, "apps/daemonsets")
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "apps", "daemonsets")?;
        let Some(ds) = storage::get(&api, &def, &key.0, &key.1) else {
            return Ok(None);
        };
        if meta::is_deleting(&ds) {
            return Ok(None);
        }
        let template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let revision = template_hash(&template);
        let nodes = eligible_nodes(&api, &template);
        let pods = owned_pods(&api, &ds, "DaemonSet", "apps/v1").await?;
        let mut by_node: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        let mut stray: Vec<&Value> = Vec::new();
        for p in pods.iter().filter(|p| !meta::is_deleting(p)) {
            match pod_node(p) {
                Some(n) if nodes.contains_key(&n) => by_node.entry(n).or_default().push(p),
                _ => stray.push(p),
            }
        }
        let pod_def = storage::def(&api, "", "pods")?;
        let mut doomed: Vec<&Value> = stray;
        for (node, mut ps) in std::mem::take(&mut by_node) {
            // Failed daemon pods are replaced; extra ones (a race) go.
            let (failed, mut live): (Vec<&Value>, Vec<&Value>) = ps.drain(..).partition(|p| {
                p.pointer("/status/phase").and_then(Value::as_str) == Some("Failed")
            });
            doomed.extend(failed);
            if live.len() > 1 {
                doomed.extend(live.split_off(1));
            }
            by_node.insert(node, live);
        }
        // One outdated pod at a time goes, and only while every other daemon pod is ready
        // (RollingUpdate with maxUnavailable 1).
        let rolling = ds
            .pointer("/spec/updateStrategy/type")
            .and_then(Value::as_str)
            != Some("OnDelete");
        let all_ready = by_node.values().flatten().all(|p| is_ready(p));
        if rolling && all_ready {
            let outdated = by_node
                .values()
                .flatten()
                .find(|p| meta::labels(p).get(REVISION_LABEL) != Some(&revision));
            doomed.extend(outdated);
        }
        for p in &doomed {
            super::runtime::delete_gone_ok(&api, &pod_def, &key.0, meta::name(p)).await?;
        }
        for node in nodes.keys() {
            if by_node.get(node).is_none_or(Vec::is_empty) {
                let owner = pinned(&ds, node, &revision);
                let result = create_pod(&api, &owner, "DaemonSet", "apps/v1", None).await;
                let kind = ("DaemonSet", "apps/v1");
                super::events::creation(&api, "daemonset-controller", &ds, kind, &result, |n| {
                    format!("Created pod: {n}")
                })
                .await;
                result?;
            }
        }
        let pods = owned_pods(&api, &ds, "DaemonSet", "apps/v1").await?;
        write_status(&api, &def, &ds, &nodes, &pods, &revision).await?;
        Ok(None)
    }
}

/// The nodes a daemon pod of `template` belongs on, by name.
fn eligible_nodes(api: &Api, template: &Value) -> HashMap<String, Value> {
    let selector = template
        .pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let tolerations = with_daemon_tolerations(template);
    api.store
        .list("/nodes", None, None, None, |_, _| true)
        .items
        .iter()
        .filter_map(|o| o.value().ok())
        .filter(|n| !meta::is_deleting(n))
        .filter(|n| {
            let labels = meta::labels(n);
            selector
                .iter()
                .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
        })
        .filter(|n| taints_tolerated(n, &tolerations))
        .map(|n| (meta::name(&n).to_string(), n))
        .collect()
}

/// The template's tolerations plus those upstream gives every daemon pod.
fn with_daemon_tolerations(template: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = template
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (key, effect) in [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ] {
        let t = json!({"key": key, "operator": "Exists", "effect": effect});
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// Whether every NoSchedule/NoExecute taint of the node is tolerated.
fn taints_tolerated(node: &Value, tolerations: &[Value]) -> bool {
    let taints = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    taints
        .iter()
        .filter(|t| t["effect"] != "PreferNoSchedule")
        .all(|t| tolerations.iter().any(|tol| tolerates(tol, t)))
}

fn tolerates(tol: &Value, taint: &Value) -> bool {
    let effect_ok =
        tol["effect"].as_str().is_none_or(str::is_empty) || tol["effect"] == taint["effect"];
    let key_ok = tol["key"].as_str().is_none_or(str::is_empty) || tol["key"] == taint["key"];
    let value_ok = match tol["operator"].as_str().unwrap_or("Equal") {
        "Exists" => true,
        _ => {
            tol["value"].as_str().unwrap_or_default() == taint["value"].as_str().unwrap_or_default()
        }
    };
    effect_ok && key_ok && value_ok
}

/// The node a daemon pod is for: its `metadata.name` affinity term, else where it is bound.
fn pod_node(p: &Value) -> Option<String> {
    let terms = p
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array);
    let pinned = terms.into_iter().flatten().find_map(|t| {
        t["matchFields"].as_array()?.iter().find_map(|f| {
            (f["key"] == "metadata.name" && f["operator"] == "In")
                .then(|| f["values"][0].as_str().map(str::to_string))
                .flatten()
        })
    });
    pinned.or_else(|| {
        p.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
    })
}

/// The daemonset with its template pinned to `node` and labelled with the revision, ready for
/// `create_pod`.
fn pinned(ds: &Value, node: &str, revision: &str) -> Value {
    let mut owner = ds.clone();
    let tpl = &mut owner["spec"]["template"];
    tpl["metadata"]["labels"][REVISION_LABEL] = json!(revision);
    tpl["spec"]["tolerations"] = json!(with_daemon_tolerations(tpl));
    tpl["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node]}
        ]}]
    });
    owner
}

async fn write_status(
    api: &Api,
    def: &crate::registry::ResourceDef,
    ds: &Value,
    nodes: &HashMap<String, Value>,
    pods: &[Value],
    revision: &str,
) -> Result<(), ApiError> {
    let live: Vec<&Value> = pods.iter().filter(|p| is_active(p)).collect();
    let on_eligible = |p: &&&Value| pod_node(p).is_some_and(|n| nodes.contains_key(&n));
    let scheduled = live.iter().filter(on_eligible).count();
    let misscheduled = live.len() - scheduled;
    let ready = live
        .iter()
        .filter(on_eligible)
        .filter(|p| is_ready(p))
        .count();
    let updated = live
        .iter()
        .filter(on_eligible)
        .filter(|p| meta::labels(p).get(REVISION_LABEL).map(String::as_str) == Some(revision))
        .count();
    let desired = nodes.len();
    let mut status = json!({
        "currentNumberScheduled": scheduled,
        "numberMisscheduled": misscheduled,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
        "updatedNumberScheduled": updated,
        "numberAvailable": ready,
        "numberUnavailable": desired.saturating_sub(ready),
        "observedGeneration": ds.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
    });
    if let Some(m) = status.as_object_mut() {
        for k in [
            "numberAvailable",
            "numberUnavailable",
            "updatedNumberScheduled",
        ] {
            if m.get(k) == Some(&json!(0)) {
                m.remove(k);
            }
        }
    }
    super::runtime::write_status(api, def, ds, "daemon-set-controller", status).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_pods_tolerate_what_upstream_adds() {
        let tol = with_daemon_tolerations(&json!({"spec": {}}));
        let node = |taints: Value| json!({"spec": {"taints": taints}});
        assert!(taints_tolerated(
            &node(json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])),
            &tol
        ));
        assert!(!taints_tolerated(
            &node(json!([{"key": "gpu", "value": "true", "effect": "NoSchedule"}])),
            &tol
        ));
        assert!(taints_tolerated(
            &node(json!([{"key": "gpu", "value": "true", "effect": "PreferNoSchedule"}])),
            &tol
        ));
    }

    #[test]
    fn pods_are_pinned_by_a_name_affinity_term() {
        let ds =
            json!({"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": []}}}});
        let owner = pinned(&ds, "node-1", "abc");
        let pod = json!({"spec": owner["spec"]["template"]["spec"].clone()});
        assert_eq!(pod_node(&pod).as_deref(), Some("node-1"));
        assert_eq!(
            owner["spec"]["template"]["metadata"]["labels"][REVISION_LABEL],
            "abc"
        );
    }
}
