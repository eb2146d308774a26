//! The unschedulable taint (upstream's node lifecycle controller, `TaintNodesByCondition`):
//! a cordoned node (`spec.unschedulable: true`, what `kubectl cordon` sets) carries
//! `node.kubernetes.io/unschedulable:NoSchedule`, and loses it when uncordoned, so schedulers
//! and tolerations see cordons the way they do on a real cluster.

use std::sync::Arc;

use serde_json::{Value, json};

use super::runtime::{Controller, Key, Requeue, keys_of};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::storage::{self, Actor};

const NODES: &str = "/nodes";
/// The taint a cordoned node carries.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Keeps the unschedulable taint in step with `spec.unschedulable`.
pub struct NodeTaints;

/// The node's taints with the unschedulable taint added or removed as `spec.unschedulable`
/// says; `None` when they are already right.
pub fn desired_taints(node: &Value) -> Option<Vec<Value>> {
    let cordoned = node["spec"]["unschedulable"].as_bool() == Some(true);
    let taints: Vec<Value> = node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let is_ours = |t: &Value| t["key"] == UNSCHEDULABLE_TAINT && t["effect"] == "NoSchedule";
    let has = taints.iter().any(is_ours);
    match (cordoned, has) {
        (true, false) => {
            let mut out = taints;
            out.push(json!({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}));
            Some(out)
        }
        (false, true) => Some(taints.into_iter().filter(|t| !is_ours(t)).collect()),
        _ => None,
    }
}

impl Controller for NodeTaints {
    fn name(&self) -> &'static str {
        "node-taints"
    }

    fn keys_for(&self, _api: &Api, change: &Change) -> Vec<Key> {
        if change.storage == NODES && !change.deleted {
            vec![(String::new(), change.name.clone())]
        } else {
            Vec::new()
        }
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, NODES)
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "", "nodes")?;
        let Some(node) = storage::get(&api, &def, "", &key.1) else {
            return Ok(None);
        };
        if desired_taints(&node).is_none() {
            return Ok(None);
        }
        let actor = Actor::system("node-controller");
        storage::update(&api, &def, &actor, "", &key.1, None, |n| {
            match desired_taints(n) {
                Some(taints) if taints.is_empty() => {
                    if let Some(spec) = n["spec"].as_object_mut() {
                        spec.remove("taints");
                    }
                }
                Some(taints) => n["spec"]["taints"] = Value::Array(taints),
                None => return false,
            }
            true
        })
        .await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cordon_adds_and_uncordon_removes_only_the_unschedulable_taint() {
        let other = json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"});
        let cordoned = json!({"spec": {"unschedulable": true, "taints": [other]}});
        let taints = desired_taints(&cordoned).unwrap_or_default();
        assert_eq!(taints.len(), 2);
        assert_eq!(taints[1]["key"], UNSCHEDULABLE_TAINT);
        let done = json!({"spec": {"unschedulable": true, "taints": taints}});
        assert_eq!(desired_taints(&done), None);
        let uncordoned = json!({"spec": {"taints": done["spec"]["taints"]}});
        assert_eq!(desired_taints(&uncordoned), Some(vec![other]));
        assert_eq!(desired_taints(&json!({"spec": {}})), None);
    }
}
