//! ReplicaSets and ReplicationControllers keep `spec.replicas` pods from their template
//! running, adopt matching orphans, and report status counts (upstream runs one loop for both).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::runtime::{Controller, Key, Requeue, keys_of, owner_keys};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::kinds::workload::selector_from_json;
use crate::meta::controller_of;
use crate::storage::Actor;
use crate::{meta, storage};

/// Most pods created or deleted in one sync (upstream's burst).
const BURST: usize = 500;

/// The replicaset controller, or (as upstream) the same loop over ReplicationControllers.
pub struct ReplicaSetController {
    name: &'static str,
    group: &'static str,
    resource: &'static str,
    storage: &'static str,
    kind: &'static str,
    api_version: &'static str,
}

impl ReplicaSetController {
    /// The loop over `apps/v1` ReplicaSets.
    pub const REPLICA_SETS: ReplicaSetController = ReplicaSetController {
        name: "replicaset",
        group: "apps",
        resource: "replicasets",
        storage: "apps/replicasets",
        kind: "ReplicaSet",
        api_version: "apps/v1",
    };
    /// The loop over core/v1 ReplicationControllers.
    pub const REPLICATION_CONTROLLERS: ReplicaSetController = ReplicaSetController {
        name: "replicationcontroller",
        group: "",
        resource: "replicationcontrollers",
        storage: "/replicationcontrollers",
        kind: "ReplicationController",
        api_version: "v1",
    };
}

impl ReplicaSetController {
    /// The event source, as upstream names these controllers.
    fn component(&self) -> &'static str {
        match self.kind {
            "ReplicationController" => "replication-controller",
            _ => "replicaset-controller",
        }
    }

    async fn event(&self, api: &Api, rs: &Value, type_: &str, reason: &str, message: &str) {
        let kind = (self.kind, self.api_version);
        super::events::record(api, self.component(), rs, kind, type_, reason, message).await;
    }

    /// Creates one pod for `rs`, recording upstream's event either way.
    async fn create_one(&self, api: &Api, rs: &Value) -> Result<(), ApiError> {
        let result = create_pod(api, rs, self.kind, self.api_version, None).await;
        let kind = (self.kind, self.api_version);
        super::events::creation(api, self.component(), rs, kind, &result, |n| {
            format!("Created pod: {n}")
        })
        .await;
        result.map(|_| ())
    }
}

impl Controller for ReplicaSetController {
    fn name(&self) -> &'static str {
        self.name
    }

    fn keys_for(&self, _api: &Api, change: &Change) -> Vec<Key> {
        owner_keys(change, self.storage, "/pods", self.kind)
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, self.storage)
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, self.group, self.resource)?;
        let Some(rs) = storage::get(&api, &def, &key.0, &key.1) else {
            return Ok(None);
        };
        let (kind, api_version) = (self.kind, self.api_version);
        let owned = owned_pods(&api, &rs, kind, api_version).await?;
        let active: Vec<&Value> = owned.iter().filter(|p| is_active(p)).collect();
        let want = rs
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize;
        let mut requeue = None;
        if !meta::is_deleting(&rs) {
            if active.len() < want {
                let n = (want - active.len()).min(BURST);
                for _ in 0..n {
                    self.create_one(&api, &rs).await?;
                }
                if want - active.len() > n {
                    requeue = Some(Duration::from_millis(100));
                }
            } else if active.len() > want {
                let mut victims: Vec<&Value> = active.clone();
                victims.sort_by_key(|p| deletion_rank(p));
                let pod_def = storage::def(&api, "", "pods")?;
                for p in victims.into_iter().take((active.len() - want).min(BURST)) {
                    super::runtime::delete_gone_ok(&api, &pod_def, &key.0, meta::name(p)).await?;
                    let msg = format!("Deleted pod: {}", meta::name(p));
                    self.event(&api, &rs, "Normal", "SuccessfulDelete", &msg)
                        .await;
                }
            }
        }
        let owned = owned_pods(&api, &rs, kind, api_version).await?;
        let manager = format!("{}-controller", self.name);
        write_status(&api, &def, &rs, &owned, &manager).await?;
        Ok(requeue)
    }
}

/// Whether a pod counts toward replicas: not terminal and not being deleted.
pub fn is_active(p: &Value) -> bool {
    let phase = p
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    !meta::is_deleting(p) && phase != "Succeeded" && phase != "Failed"
}

/// Whether a pod has `Ready=True`.
pub fn is_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type") == Some(&json!("Ready")) && c.get("status") == Some(&json!("True"))
            })
        })
}

/// Pods to delete first: unscheduled, then not running, then not ready, then newest.
fn deletion_rank(p: &Value) -> (u8, u8, u8, std::cmp::Reverse<String>) {
    let bound = p
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let running = p.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
    (
        u8::from(bound),
        u8::from(running),
        u8::from(is_ready(p)),
        std::cmp::Reverse(
            meta::meta_str(p, "creationTimestamp")
                .unwrap_or_default()
                .to_string(),
        ),
    )
}

/// Pods controlled by `owner` (adopting matching orphans).
pub async fn owned_pods(
    api: &Api,
    owner: &Value,
    kind: &str,
    api_version: &str,
) -> Result<Vec<Value>, ApiError> {
    let ns = meta::namespace(owner);
    let uid = meta::uid(owner);
    let Some(sel) = owner_selector(owner, kind) else {
        return Ok(Vec::new());
    };
    if sel.is_empty() {
        return Ok(Vec::new());
    }
    let pods = api
        .store
        .list("/pods", Some(ns), None, None, |_, o| {
            sel.matches(|k| o.label(k))
        })
        .items;
    let mut out = Vec::new();
    for so in pods {
        let Ok(p) = so.value() else { continue };
        match controller_of(&p) {
            Some((_, _, u)) if u == uid => out.push(p),
            Some(_) => {}
            None if !meta::is_deleting(owner) && !meta::is_deleting(&p) => {
                let pod_def = storage::def(api, "", "pods")?;
                let oref = owner_ref(owner, kind, api_version);
                let adopted = storage::update(
                    api,
                    &pod_def,
                    &Actor::system("replicaset-controller"),
                    ns,
                    meta::name(&p),
                    None,
                    |pod| {
                        if controller_of(pod).is_some() {
                            return false;
                        }
                        let mut refs = meta::owner_references(pod);
                        refs.push(oref.clone());
                        pod["metadata"]["ownerReferences"] = json!(refs);
                        true
                    },
                )
                .await?;
                if let Some(a) = adopted
                    && controller_of(&a).is_some_and(|(_, _, u)| u == uid)
                {
                    out.push(a);
                }
            }
            None => {}
        }
    }
    Ok(out)
}

/// The pod selector of a workload: a `LabelSelector`, or a ReplicationController's plain map.
fn owner_selector(owner: &Value, kind: &str) -> Option<crate::selectors::LabelSelector> {
    let sel = owner.pointer("/spec/selector")?;
    if kind == "ReplicationController" {
        return selector_from_json(&json!({ "matchLabels": sel }));
    }
    selector_from_json(sel)
}

/// An ownerReference with `controller` and `blockOwnerDeletion` set.
pub fn owner_ref(owner: &Value, kind: &str, api_version: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": meta::name(owner),
        "uid": meta::uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Creates one pod from the owner's template, optionally with a fixed name and extra fields.
pub async fn create_pod(
    api: &Api,
    owner: &Value,
    kind: &str,
    api_version: &str,
    name: Option<&str>,
) -> Result<Value, ApiError> {
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let mut meta_obj = template.get("metadata").cloned().unwrap_or(json!({}));
    if let Some(m) = meta_obj.as_object_mut() {
        m.remove("name");
        m.remove("creationTimestamp");
        m.insert("namespace".into(), json!(meta::namespace(owner)));
        match name {
            Some(n) => {
                m.insert("name".into(), json!(n));
            }
            None => {
                m.insert(
                    "generateName".into(),
                    json!(format!("{}-", meta::name(owner))),
                );
            }
        }
        m.insert(
            "ownerReferences".into(),
            json!([owner_ref(owner, kind, api_version)]),
        );
    }
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta_obj,
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    });
    let pod_def = storage::def(api, "", "pods")?;
    let manager = format!("{}-controller", kind.to_ascii_lowercase());
    storage::create(api, &pod_def, &Actor::system(&manager), pod).await
}

async fn write_status(
    api: &Api,
    def: &crate::registry::ResourceDef,
    rs: &Value,
    owned: &[Value],
    manager: &str,
) -> Result<(), ApiError> {
    let active: Vec<&Value> = owned.iter().filter(|p| is_active(p)).collect();
    let template_labels = rs
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let fully = active
        .iter()
        .filter(|p| {
            let l = meta::labels(p);
            template_labels
                .iter()
                .all(|(k, v)| l.get(k).map(String::as_str) == v.as_str())
        })
        .count();
    let ready = active.iter().filter(|p| is_ready(p)).count();
    let generation = rs
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let mut status = json!({
        "replicas": active.len(),
        "fullyLabeledReplicas": fully,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": generation,
    });
    if ready == 0 {
        status.as_object_mut().map(|s| s.remove("readyReplicas"));
        status
            .as_object_mut()
            .map(|s| s.remove("availableReplicas"));
    }
    if fully == 0 {
        status
            .as_object_mut()
            .map(|s| s.remove("fullyLabeledReplicas"));
    }
    super::runtime::write_status(api, def, rs, manager, status).await
}
