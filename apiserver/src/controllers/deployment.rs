//! Deployments: a ReplicaSet per pod template (named by the template hash), scaled by the
//! RollingUpdate (maxSurge/maxUnavailable) or Recreate strategy, with upstream's status,
//! revisions and conditions so that `kubectl rollout status` works.

use std::sync::Arc;

use serde_json::{Value, json};

use super::replicaset::owner_ref;
use super::runtime::{Controller, Key, Requeue, keys_of, owner_keys};
use super::template::{HASH_LABEL, same_template, template_hash};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::meta::controller_of;
use crate::registry::ResourceDef;
use crate::storage::Actor;
use crate::storage::{DeleteOptions, delete_object};
use crate::{meta, storage};

const REVISION: &str = "deployment.kubernetes.io/revision";
/// The event source and field manager of this loop.
const COMPONENT: &str = "deployment-controller";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";

/// The deployment controller.
pub struct DeploymentController;

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment"
    }

    fn keys_for(&self, _api: &Api, change: &Change) -> Vec<Key> {
        owner_keys(change, "apps/deployments", "apps/replicasets", "Deployment")
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, "apps/deployments")
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let ddef = storage::def(&api, "apps", "deployments")?;
        let rsdef = storage::def(&api, "apps", "replicasets")?;
        let Some(d) = storage::get(&api, &ddef, &key.0, &key.1) else {
            return Ok(None);
        };
        if meta::is_deleting(&d) {
            return Ok(None);
        }
        let actor = Actor::system(COMPONENT);
        let uid = meta::uid(&d).to_string();
        let mut rses: Vec<Value> = api
            .store
            .list("apps/replicasets", Some(&key.0), None, None, |_, _| true)
            .items
            .iter()
            .filter_map(|o| o.value().ok())
            .filter(|rs| controller_of(rs).is_some_and(|(_, _, u)| u == uid))
            .collect();
        rses.sort_by_key(|rs| {
            meta::meta_str(rs, "creationTimestamp")
                .unwrap_or_default()
                .to_string()
        });
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        let desired = replicas(&d);
        let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
        let max_rev = rses.iter().map(revision).max().unwrap_or(0);
        let new_idx = rses.iter().position(|rs| same_template(rs, &template));
        let new_rs = match new_idx {
            Some(i) => {
                let rs = rses.remove(i);
                // Keep the deployment's revision on the current ReplicaSet up to date.
                let stale = revision(&rs) == 0 || revision(&rs) < max_rev;
                if stale || !annotations_copied(&d, &rs) {
                    let rev = if stale { max_rev + 1 } else { revision(&rs) };
                    storage::update(&api, &rsdef, &actor, &key.0, meta::name(&rs), None, |o| {
                        copy_annotations(&d, o);
                        let old = revision(o);
                        if old > 0 && old < rev {
                            // A rollback: the revision this ReplicaSet had is kept in its history.
                            let history = o["metadata"]["annotations"][REVISION_HISTORY]
                                .as_str()
                                .filter(|h| !h.is_empty())
                                .map(|h| format!("{h},{old}"))
                                .unwrap_or_else(|| old.to_string());
                            o["metadata"]["annotations"][REVISION_HISTORY] = json!(history);
                        }
                        o["metadata"]["annotations"][REVISION] = json!(rev.to_string());
                        true
                    })
                    .await?
                    .unwrap_or(rs)
                } else {
                    rs
                }
            }
            None if paused => return Ok(None),
            None => {
                create_rs(
                    &api,
                    &rsdef,
                    &actor,
                    &d,
                    &template,
                    &hash,
                    max_rev + 1,
                    &rses,
                    desired,
                )
                .await?
            }
        };
        let olds = rses;
        if !paused {
            match strategy(&d).as_str() {
                "Recreate" => recreate(&api, &rsdef, &actor, &d, &new_rs, &olds, desired).await?,
                _ => rolling(&api, &rsdef, &actor, &d, &new_rs, &olds, desired).await?,
            }
            cleanup(&api, &rsdef, &d, &olds).await?;
        }
        let rev = revision(&new_rs).to_string();
        if d.pointer("/metadata/annotations")
            .and_then(|a| a.get(REVISION))
            .and_then(Value::as_str)
            != Some(rev.as_str())
        {
            storage::update(&api, &ddef, &actor, &key.0, &key.1, None, |o| {
                o["metadata"]["annotations"][REVISION] = json!(rev);
                true
            })
            .await?;
        }
        write_status(&api, &ddef, &actor, &key, &new_rs, &olds).await?;
        Ok(None)
    }
}

/// Deployment annotations upstream never copies to its ReplicaSets.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

fn copied_annotations(d: &Value) -> impl Iterator<Item = (&String, &Value)> {
    d.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
}

/// Whether the ReplicaSet carries every annotation the deployment passes on.
fn annotations_copied(d: &Value, rs: &Value) -> bool {
    copied_annotations(d)
        .all(|(k, v)| rs.pointer("/metadata/annotations").and_then(|a| a.get(k)) == Some(v))
}

/// Copies the deployment's annotations onto a ReplicaSet, as upstream's controller does.
fn copy_annotations(d: &Value, rs: &mut Value) {
    for (k, v) in copied_annotations(d) {
        rs["metadata"]["annotations"][k] = v.clone();
    }
}

fn replicas(d: &Value) -> i64 {
    d.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0)
}

fn rs_replicas(rs: &Value) -> i64 {
    rs.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn rs_available(rs: &Value) -> i64 {
    rs.pointer("/status/availableReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn strategy(d: &Value) -> String {
    d.pointer("/spec/strategy/type")
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate")
        .to_string()
}

/// Resolves an int-or-percent against `total` (percentages rounded up or down).
fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: &str) -> i64 {
    let v = v.cloned().unwrap_or(json!(default));
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => {
            let p: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            let x = p * total as f64 / 100.0;
            (if round_up { x.ceil() } else { x.floor() }) as i64
        }
        _ => 0,
    }
}

#[allow(clippy::too_many_arguments)]
async fn create_rs(
    api: &Api,
    rsdef: &ResourceDef,
    actor: &Actor,
    d: &Value,
    template: &Value,
    hash: &str,
    rev: i64,
    olds: &[Value],
    desired: i64,
) -> Result<Value, ApiError> {
    let ns = meta::namespace(d);
    let mut tmpl = template.clone();
    tmpl["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    labels[HASH_LABEL] = json!(hash);
    let start = if strategy(d) == "Recreate" || olds.iter().all(|o| rs_replicas(o) == 0) {
        desired
    } else {
        let surge = int_or_percent(
            d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
            desired,
            true,
            "25%",
        );
        let total: i64 = olds.iter().map(rs_replicas).sum();
        (desired + surge - total).clamp(0, desired)
    };
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{}-{hash}", meta::name(d)),
            "namespace": ns,
            "labels": labels,
            "annotations": {
                REVISION: rev.to_string(),
                "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                "deployment.kubernetes.io/max-replicas": (desired + int_or_percent(d.pointer("/spec/strategy/rollingUpdate/maxSurge"), desired, true, "25%")).to_string(),
            },
            "ownerReferences": [owner_ref(d, "Deployment", "apps/v1")],
        },
        "spec": {"replicas": start, "selector": selector, "template": tmpl, "minReadySeconds": d.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0))},
    });
    let mut rs = rs;
    copy_annotations(d, &mut rs);
    match storage::create(api, rsdef, actor, rs).await {
        Ok(v) => {
            if start > 0 {
                let message = format!("Scaled up replica set {} to {start}", meta::name(&v));
                scaling_event(api, d, &message).await;
            }
            Ok(v)
        }
        Err(e) if e.code == 409 => {
            storage::get(api, rsdef, ns, &format!("{}-{hash}", meta::name(d))).ok_or(e)
        }
        Err(e) => Err(e),
    }
}

/// Records a `ScalingReplicaSet` event on deployment `d`.
async fn scaling_event(api: &Api, d: &Value, message: &str) {
    let kind = ("Deployment", "apps/v1");
    super::events::record(
        api,
        COMPONENT,
        d,
        kind,
        "Normal",
        "ScalingReplicaSet",
        message,
    )
    .await;
}

async fn scale_rs(
    api: &Api,
    rsdef: &ResourceDef,
    actor: &Actor,
    d: &Value,
    rs: &Value,
    to: i64,
) -> Result<(), ApiError> {
    let from = rs_replicas(rs);
    if from == to {
        return Ok(());
    }
    storage::update(
        api,
        rsdef,
        actor,
        meta::namespace(rs),
        meta::name(rs),
        None,
        |o| {
            o["spec"]["replicas"] = json!(to);
            true
        },
    )
    .await?;
    let way = if from < to { "up" } else { "down" };
    let message = format!(
        "Scaled {way} replica set {} to {to} from {from}",
        meta::name(rs)
    );
    scaling_event(api, d, &message).await;
    Ok(())
}

async fn recreate(
    api: &Api,
    rsdef: &ResourceDef,
    actor: &Actor,
    d: &Value,
    new_rs: &Value,
    olds: &[Value],
    desired: i64,
) -> Result<(), ApiError> {
    let mut old_pods = 0;
    for o in olds {
        scale_rs(api, rsdef, actor, d, o, 0).await?;
        old_pods += o
            .pointer("/status/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
    }
    if old_pods == 0 {
        scale_rs(api, rsdef, actor, d, new_rs, desired).await?;
    }
    Ok(())
}

async fn rolling(
    api: &Api,
    rsdef: &ResourceDef,
    actor: &Actor,
    d: &Value,
    new_rs: &Value,
    olds: &[Value],
    desired: i64,
) -> Result<(), ApiError> {
    let surge = int_or_percent(
        d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
        desired,
        true,
        "25%",
    );
    let mut unavailable = int_or_percent(
        d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
        desired,
        false,
        "25%",
    );
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    let old_total: i64 = olds.iter().map(rs_replicas).sum();
    let new_cur = rs_replicas(new_rs);
    // Scale up the new ReplicaSet within the surge budget.
    let new_target = if old_total == 0 {
        desired
    } else {
        let room = desired + surge - (old_total + new_cur);
        (new_cur + room.max(0)).min(desired)
    };
    if new_target != new_cur {
        scale_rs(api, rsdef, actor, d, new_rs, new_target).await?;
    }
    // Scale down old ReplicaSets while keeping desired - maxUnavailable available.
    let min_available = desired - unavailable;
    let available: i64 = olds.iter().map(rs_available).sum::<i64>() + rs_available(new_rs);
    let mut budget = (available - min_available).max(0);
    // Old pods that are not available can always go.
    let mut olds_sorted: Vec<&Value> = olds.iter().collect();
    olds_sorted.sort_by_key(|o| revision(o));
    for o in olds_sorted {
        let cur = rs_replicas(o);
        if cur == 0 {
            continue;
        }
        let unhealthy = (cur - rs_available(o)).max(0);
        let mut cut = unhealthy.min(cur);
        let healthy_cut = (cur - cut).min(budget);
        cut += healthy_cut;
        budget -= healthy_cut;
        if cut > 0 {
            scale_rs(api, rsdef, actor, d, o, cur - cut).await?;
        }
    }
    Ok(())
}

/// Deletes old ReplicaSets with no replicas beyond `revisionHistoryLimit`.
async fn cleanup(
    api: &Api,
    rsdef: &ResourceDef,
    d: &Value,
    olds: &[Value],
) -> Result<(), ApiError> {
    let limit = d
        .pointer("/spec/revisionHistoryLimit")
        .and_then(Value::as_i64)
        .unwrap_or(10)
        .max(0) as usize;
    let mut idle: Vec<&Value> = olds
        .iter()
        .filter(|o| {
            rs_replicas(o) == 0
                && o.pointer("/status/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    == 0
        })
        .collect();
    if idle.len() <= limit {
        return Ok(());
    }
    idle.sort_by_key(|o| revision(o));
    for o in idle.iter().take(idle.len() - limit) {
        match delete_object(
            api,
            rsdef,
            meta::namespace(o),
            meta::name(o),
            &DeleteOptions::default(),
        )
        .await
        {
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn write_status(
    api: &Api,
    ddef: &ResourceDef,
    actor: &Actor,
    key: &Key,
    new_rs: &Value,
    olds: &[Value],
) -> Result<(), ApiError> {
    let Some(d) = storage::get(api, ddef, &key.0, &key.1) else {
        return Ok(());
    };
    let desired = replicas(&d);
    let st = |rs: &Value, f: &str| {
        rs.pointer(&format!("/status/{f}"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let all: Vec<&Value> = olds.iter().chain(std::iter::once(new_rs)).collect();
    let total: i64 = all.iter().map(|r| st(r, "replicas")).sum();
    let ready: i64 = all.iter().map(|r| st(r, "readyReplicas")).sum();
    let available: i64 = all.iter().map(|r| st(r, "availableReplicas")).sum();
    let updated = st(new_rs, "replicas");
    let unavailable_max = int_or_percent(
        d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
        desired,
        false,
        "25%",
    );
    let min_available = if strategy(&d) == "Recreate" {
        desired
    } else {
        desired - unavailable_max
    };
    let now = meta::now();
    let prev = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let cond = |t: &str, status: &str, reason: &str, message: String| {
        let old = prev.iter().find(|c| c.get("type") == Some(&json!(t)));
        let transition = old
            .filter(|c| c.get("status") == Some(&json!(status)))
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or(json!(now));
        let update = old
            .filter(|c| {
                c.get("status") == Some(&json!(status))
                    && c.get("reason") == Some(&json!(reason))
                    && c.get("message") == Some(&json!(message))
            })
            .and_then(|c| c.get("lastUpdateTime").cloned())
            .unwrap_or(json!(now));
        json!({"type": t, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition, "reason": reason, "message": message})
    };
    let available_cond = if available >= min_available {
        cond(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
        )
    } else {
        cond(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
        )
    };
    let rs_name = meta::name(new_rs);
    let complete = updated == desired
        && total == desired
        && available == desired
        && st(new_rs, "replicas") == desired;
    let progressing = if complete {
        cond(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet {rs_name:?} has successfully progressed."),
        )
    } else {
        cond(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet {rs_name:?} is progressing."),
        )
    };
    let mut status = json!({
        "observedGeneration": d.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": (desired - available).max(0),
        "conditions": [available_cond, progressing],
    });
    if let Some(s) = status.as_object_mut() {
        for k in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ] {
            if s.get(k) == Some(&json!(0)) {
                s.remove(k);
            }
        }
    }
    let same = {
        let mut a = d.get("status").cloned().unwrap_or(json!({}));
        let mut b = status.clone();
        for v in [&mut a, &mut b] {
            if let Some(cs) = v.get_mut("conditions").and_then(Value::as_array_mut) {
                for c in cs.iter_mut() {
                    if let Some(o) = c.as_object_mut() {
                        o.remove("lastUpdateTime");
                        o.remove("lastTransitionTime");
                    }
                }
            }
        }
        a == b
    };
    if same {
        return Ok(());
    }
    storage::update(api, ddef, actor, &key.0, &key.1, Some("status"), |o| {
        o["status"] = status.clone();
        true
    })
    .await?;
    Ok(())
}
