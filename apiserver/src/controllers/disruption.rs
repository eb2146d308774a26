//! The disruption controller (kube-controller-manager's `disruption`): keeps each
//! PodDisruptionBudget's status — expected, healthy and desired pod counts, disruptions
//! allowed, the pods evictions are deleting (`disruptedPods`) and the `DisruptionAllowed`
//! condition — that the eviction subresource decides with.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::runtime::{Controller, Key, Requeue, keys_in, keys_of, write_status};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::kinds::pdb;
use crate::registry::ResourceDef;
use crate::{meta, storage};

/// Storage key of PodDisruptionBudgets.
const PDBS: &str = "policy/poddisruptionbudgets";

/// How long an eviction's entry in `disruptedPods` keeps its pod out of the healthy count
/// while the pod is not yet marked deleted (upstream's `DeletionTimeout`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// Storage keys whose writes change a budget's pods or expected count.
const WATCHED: &[&str] = &[
    "/pods",
    "apps/deployments",
    "apps/replicasets",
    "apps/statefulsets",
    "/replicationcontrollers",
];

/// The disruption controller.
pub struct DisruptionController;

impl Controller for DisruptionController {
    fn name(&self) -> &'static str {
        "disruption"
    }

    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key> {
        if change.storage == PDBS {
            return vec![(change.namespace.clone(), change.name.clone())];
        }
        // A pod may have left a budget's selector (or be gone), so every budget of the
        // namespace is reconsidered; reconciles that change nothing write nothing.
        if WATCHED.contains(&change.storage.as_str()) {
            return keys_in(api, PDBS, Some(&change.namespace));
        }
        Vec::new()
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, PDBS)
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "policy", "poddisruptionbudgets")?;
        let Some(budget) = storage::get(&api, &def, &key.0, &key.1) else {
            return Ok(None);
        };
        let pods = pods_for(&api, &budget);
        let now = jiff::Timestamp::now();
        match expected_and_desired(&api, &budget, &pods) {
            Ok((expected, desired)) => {
                let (disrupted, recheck) = disrupted_pods(&budget, &pods, now);
                let healthy = count_healthy(&pods, &disrupted, now);
                let status = computed_status(&budget, healthy, desired, expected, disrupted);
                write_status(&api, &def, &budget, MANAGER, status).await?;
                Ok(recheck)
            }
            Err(msg) => {
                fail_safe(&api, &def, &budget, &msg).await?;
                // Upstream retries a failed sync with backoff.
                Ok(Some(Duration::from_secs(5)))
            }
        }
    }
}

/// Field manager of the controller's status writes.
const MANAGER: &str = "kube-controller-manager";

/// Pods of the budget's namespace its selector selects.
fn pods_for(api: &Api, budget: &Value) -> Vec<Value> {
    api.store
        .list(
            "/pods",
            Some(meta::namespace(budget)),
            None,
            None,
            |_, _| true,
        )
        .items
        .into_iter()
        .filter_map(|so| so.value().ok())
        .filter(|p| pdb::selects(budget, p))
        .collect()
}

/// `(expectedPods, desiredHealthy)` as upstream's `getExpectedPodCount` computes them: with
/// `maxUnavailable` (or a percentage `minAvailable`) from the scale of the pods' controllers,
/// with an integer `minAvailable` from the number of pods.
fn expected_and_desired(api: &Api, budget: &Value, pods: &[Value]) -> Result<(i64, i64), String> {
    let spec = budget.get("spec").cloned().unwrap_or(json!({}));
    if let Some(max) = spec.get("maxUnavailable").filter(|v| !v.is_null()) {
        let expected = expected_scale(api, pods)?;
        let max = pdb::scaled_value(max, expected, true)?;
        return Ok((expected, (expected - max).max(0)));
    }
    match spec.get("minAvailable") {
        Some(Value::Number(n)) => Ok((pods.len() as i64, n.as_i64().unwrap_or(0))),
        Some(min @ Value::String(_)) => {
            let expected = expected_scale(api, pods)?;
            Ok((expected, pdb::scaled_value(min, expected, true)?))
        }
        _ => Ok((0, 0)),
    }
}

/// The summed scale of the controllers of `pods` (each counted once); pods without a
/// controller are skipped, as upstream does (it only reports them in an event).
fn expected_scale(api: &Api, pods: &[Value]) -> Result<i64, String> {
    let mut scales: HashMap<String, i64> = HashMap::new();
    for pod in pods {
        let Some(oref) = meta::owner_references(pod)
            .into_iter()
            .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        else {
            continue;
        };
        let uid = str_of(&oref, "uid");
        if scales.contains_key(uid) {
            continue;
        }
        match controller_scale(api, meta::namespace(pod), &oref)? {
            Some((uid, scale)) => {
                scales.insert(uid, scale);
            }
            None => {
                return Err(format!(
                    "found no controllers for pod {:?}",
                    meta::name(pod)
                ));
            }
        }
    }
    Ok(scales.values().sum())
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// The uid and scale of the controller `oref` names, upstream's finders in order:
/// ReplicationController, the Deployment of a ReplicaSet, the ReplicaSet, the StatefulSet,
/// then any served kind with a `scale` subresource.
fn controller_scale(api: &Api, ns: &str, oref: &Value) -> Result<Option<(String, i64)>, String> {
    let api_version = str_of(oref, "apiVersion");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = str_of(oref, "kind");
    let uid = str_of(oref, "uid");
    let get = |storage: &str, name: &str| {
        api.store
            .get(storage, ns, name)
            .and_then(|so| so.value().ok())
    };
    let owned = |obj: Option<Value>, want_uid: &str| obj.filter(|o| meta::uid(o) == want_uid);
    match (group, kind) {
        ("", "ReplicationController") => {
            let rc = owned(get("/replicationcontrollers", str_of(oref, "name")), uid);
            return Ok(rc.map(|rc| (uid.to_string(), replicas(&rc))));
        }
        ("apps" | "extensions", "ReplicaSet") => {
            let Some(rs) = owned(get("apps/replicasets", str_of(oref, "name")), uid) else {
                return Ok(None);
            };
            let deployment = meta::owner_references(&rs)
                .into_iter()
                .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
                .filter(|o| str_of(o, "kind") == "Deployment")
                .and_then(|o| {
                    owned(
                        get("apps/deployments", str_of(&o, "name")),
                        str_of(&o, "uid"),
                    )
                });
            return Ok(Some(match deployment {
                Some(d) => (meta::uid(&d).to_string(), replicas(&d)),
                None => (uid.to_string(), replicas(&rs)),
            }));
        }
        ("apps", "StatefulSet") => {
            let ss = owned(get("apps/statefulsets", str_of(oref, "name")), uid);
            return Ok(ss.map(|ss| (uid.to_string(), replicas(&ss))));
        }
        _ => {}
    }
    let version = api_version.rsplit('/').next().unwrap_or_default();
    let def = api
        .registry
        .all()
        .into_iter()
        .find(|d| d.group == group && d.kind == kind && d.version == version)
        .ok_or_else(|| format!("no matches for kind {kind:?} in version {api_version:?}"))?;
    if def.subresource("scale").is_none() {
        return Err(format!(
            "{} does not implement the scale subresource",
            group_resource(&def)
        ));
    }
    let obj = owned(get(&def.storage, str_of(oref, "name")), uid);
    Ok(obj.map(|o| (uid.to_string(), replicas(&o))))
}

fn group_resource(def: &ResourceDef) -> String {
    if def.group.is_empty() {
        def.resource.clone()
    } else {
        format!("{}.{}", def.resource, def.group)
    }
}

/// The budget's `disruptedPods` still pending: entries of pods that exist, are not yet being
/// deleted and whose eviction is younger than [`DELETION_TIMEOUT`]; with the time the
/// earliest of them expires (when the budget must be looked at again).
fn disrupted_pods(
    budget: &Value,
    pods: &[Value],
    now: jiff::Timestamp,
) -> (BTreeMap<String, String>, Requeue) {
    let mut out = BTreeMap::new();
    let mut recheck: Option<Duration> = None;
    let Some(listed) = budget
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
    else {
        return (out, None);
    };
    for pod in pods.iter().filter(|p| !meta::is_deleting(p)) {
        let name = meta::name(pod);
        let Some(at) = listed.get(name).and_then(Value::as_str) else {
            continue;
        };
        let Some(left) = time_left(at, now) else {
            continue;
        };
        recheck = Some(recheck.map_or(left, |r| r.min(left)));
        out.insert(name.to_string(), at.to_string());
    }
    (out, recheck)
}

/// How long an eviction recorded at `at` keeps its pod out of the healthy count (`None`:
/// expired or unreadable).
fn time_left(at: &str, now: jiff::Timestamp) -> Option<Duration> {
    let t = meta::parse_time(at)?;
    let age = now.duration_since(t);
    let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
    DELETION_TIMEOUT.checked_sub(age).filter(|d| !d.is_zero())
}

/// Ready pods not being deleted and not about to be (upstream's `countHealthyPods`).
fn count_healthy(
    pods: &[Value],
    disrupted: &BTreeMap<String, String>,
    now: jiff::Timestamp,
) -> i64 {
    pods.iter()
        .filter(|p| !meta::is_deleting(p))
        .filter(|p| {
            disrupted
                .get(meta::name(p))
                .is_none_or(|at| time_left(at, now).is_none())
        })
        .filter(|p| pdb::is_ready(p))
        .count() as i64
}

/// The status upstream's `updatePdbStatus` writes.
fn computed_status(
    budget: &Value,
    healthy: i64,
    desired: i64,
    expected: i64,
    disrupted: BTreeMap<String, String>,
) -> Value {
    let allowed = if expected <= 0 {
        0
    } else {
        (healthy - desired).max(0)
    };
    let generation = budget
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut status = Map::new();
    if let Some(c) = budget.pointer("/status/conditions") {
        status.insert("conditions".into(), c.clone());
    }
    status.insert("currentHealthy".into(), json!(healthy));
    status.insert("desiredHealthy".into(), json!(desired));
    if !disrupted.is_empty() {
        status.insert("disruptedPods".into(), json!(disrupted));
    }
    status.insert("disruptionsAllowed".into(), json!(allowed));
    status.insert("expectedPods".into(), json!(expected));
    status.insert("observedGeneration".into(), json!(generation));
    let mut status = Value::Object(status);
    pdb::update_disruption_allowed(&mut status);
    status
}

/// Upstream's `failSafe`: when the status cannot be computed, at least allow no disruption,
/// with a `SyncFailed` condition carrying the error.
async fn fail_safe(
    api: &Api,
    def: &ResourceDef,
    budget: &Value,
    msg: &str,
) -> Result<(), ApiError> {
    let mut status = budget.get("status").cloned().unwrap_or(json!({}));
    let generation = pdb::status_int(budget, "observedGeneration");
    let mut conds = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    pdb::set_condition(
        &mut conds,
        pdb::condition(false, pdb::SYNC_FAILED, msg, generation),
    );
    if let Some(o) = status.as_object_mut() {
        o.insert("disruptionsAllowed".into(), json!(0));
        o.insert("conditions".into(), Value::Array(conds));
    }
    write_status(api, def, budget, MANAGER, status).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool, deleting: bool) -> Value {
        let mut p = json!({"metadata": {"name": name, "namespace": "d"},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!("2020-01-01T00:00:00Z");
        }
        p
    }

    #[test]
    fn healthy_pods_exclude_unready_deleting_and_disrupted() {
        let now = jiff::Timestamp::now();
        let pods = [
            pod("a", true, false),
            pod("b", false, false),
            pod("c", true, true),
            pod("d", true, false),
        ];
        let budget = json!({"status": {"disruptedPods": {
            "d": meta::format_time(now), "a": "2000-01-01T00:00:00Z"}}});
        let (disrupted, recheck) = disrupted_pods(&budget, &pods, now);
        assert_eq!(disrupted.keys().collect::<Vec<_>>(), ["d"]);
        assert!(recheck.is_some_and(|r| r <= DELETION_TIMEOUT));
        assert_eq!(count_healthy(&pods, &disrupted, now), 1);
    }

    #[test]
    fn status_allows_no_disruption_without_expected_pods() {
        let budget = json!({"metadata": {"generation": 2}});
        let s = computed_status(&budget, 3, 2, 0, BTreeMap::new());
        assert_eq!(s["disruptionsAllowed"], 0);
        assert_eq!(s["conditions"][0]["reason"], pdb::INSUFFICIENT_PODS);
        let s = computed_status(&budget, 3, 2, 3, BTreeMap::new());
        assert_eq!(s["disruptionsAllowed"], 1);
        assert_eq!(s["observedGeneration"], 2);
        assert_eq!(s["conditions"][0]["reason"], pdb::SUFFICIENT_PODS);
    }
}
