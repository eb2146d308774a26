//! StatefulSets: pods `<name>-<ordinal>` created in order (each after the previous is Running
//! and Ready, for `OrderedReady`) and removed from the highest ordinal, with PVCs from
//! `volumeClaimTemplates` and upstream's status counts.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::replicaset::{create_pod, is_active, is_ready, owner_ref};
use super::runtime::{Controller, Key, Requeue, keys_of, owner_keys};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::meta::controller_of;
use crate::storage::Actor;
use crate::{meta, storage};

/// The statefulset controller.
pub struct StatefulSetController;

impl Controller for StatefulSetController {
    fn name(&self) -> &'static str {
        "statefulset"
    }

    fn keys_for(&self, _api: &Api, change: &Change) -> Vec<Key> {
        owner_keys(change, "apps/statefulsets", "/pods", "StatefulSet")
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, "apps/statefulsets")
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "apps", "statefulsets")?;
        let Some(sts) = storage::get(&api, &def, &key.0, &key.1) else {
            return Ok(None);
        };
        let uid = meta::uid(&sts).to_string();
        let name = meta::name(&sts).to_string();
        let pods: Vec<Value> = api
            .store
            .list("/pods", Some(&key.0), None, None, |_, _| true)
            .items
            .iter()
            .filter_map(|o| o.value().ok())
            .filter(|p| controller_of(p).is_some_and(|(_, _, u)| u == uid))
            .collect();
        let ordinal = |p: &Value| -> Option<i64> {
            meta::name(p)
                .strip_prefix(&format!("{name}-"))
                .and_then(|o| o.parse().ok())
        };
        let want = sts
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0);
        let parallel = sts
            .pointer("/spec/podManagementPolicy")
            .and_then(Value::as_str)
            == Some("Parallel");
        let mut requeue = None;
        if !meta::is_deleting(&sts) {
            for i in 0..want {
                let existing = pods.iter().find(|p| ordinal(p) == Some(i));
                match existing {
                    Some(p) if is_active(p) => {
                        let running_ready =
                            is_ready(p) && p.pointer("/status/phase") == Some(&json!("Running"));
                        if !(parallel || running_ready) {
                            requeue = Some(Duration::from_secs(1));
                            break;
                        }
                    }
                    Some(_) => {
                        requeue = Some(Duration::from_millis(500));
                        if !parallel {
                            break;
                        }
                    }
                    None => {
                        create_member(&api, &sts, &name, i).await?;
                        if !parallel {
                            break;
                        }
                    }
                }
            }
            let mut extra: Vec<&Value> = pods
                .iter()
                .filter(|p| ordinal(p).is_none_or(|o| o >= want) && !meta::is_deleting(p))
                .collect();
            extra.sort_by_key(|p| std::cmp::Reverse(ordinal(p).unwrap_or(i64::MAX)));
            let pod_def = storage::def(&api, "", "pods")?;
            for p in extra
                .into_iter()
                .take(if parallel { usize::MAX } else { 1 })
            {
                super::runtime::delete_gone_ok(&api, &pod_def, &key.0, meta::name(p)).await?;
            }
        }
        write_status(&api, &def, &sts, &pods).await?;
        Ok(requeue)
    }
}

async fn create_member(api: &Api, sts: &Value, name: &str, i: i64) -> Result<(), ApiError> {
    let ns = meta::namespace(sts);
    let pod_name = format!("{name}-{i}");
    let mut owner = sts.clone();
    // The pod gets its identity labels and hostname/subdomain.
    if let Some(t) = owner
        .pointer_mut("/spec/template")
        .and_then(Value::as_object_mut)
    {
        let m = t.entry("metadata").or_insert_with(|| json!({}));
        m["labels"]["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
        m["labels"]["apps.kubernetes.io/pod-index"] = json!(i.to_string());
        let spec = t.entry("spec").or_insert_with(|| json!({}));
        spec["hostname"] = json!(pod_name);
        if let Some(svc) = sts
            .pointer("/spec/serviceName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            spec["subdomain"] = json!(svc);
        }
    }
    let claims = sts
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pvc_def = storage::def(api, "", "persistentvolumeclaims")?;
    for c in &claims {
        let cname = c
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let claim_name = format!("{cname}-{pod_name}");
        if storage::get(api, &pvc_def, ns, &claim_name).is_none() {
            let mut pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim_name, "namespace": ns, "labels": sts.pointer("/spec/selector/matchLabels").cloned().unwrap_or(json!({}))},
                "spec": c.get("spec").cloned().unwrap_or(json!({}))});
            if sts.pointer("/spec/persistentVolumeClaimRetentionPolicy/whenDeleted")
                == Some(&json!("Delete"))
            {
                pvc["metadata"]["ownerReferences"] =
                    json!([owner_ref(sts, "StatefulSet", "apps/v1")]);
            }
            match storage::create(api, &pvc_def, &Actor::system("statefulset-controller"), pvc)
                .await
            {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(spec) = owner
            .pointer_mut("/spec/template/spec")
            .and_then(Value::as_object_mut)
        {
            let vols = spec.entry("volumes").or_insert_with(|| json!([]));
            if let Some(a) = vols.as_array_mut() {
                a.retain(|v| v.get("name").and_then(Value::as_str) != Some(cname));
                a.push(json!({"name": cname, "persistentVolumeClaim": {"claimName": claim_name}}));
            }
        }
    }
    let result = create_pod(api, &owner, "StatefulSet", "apps/v1", Some(&pod_name)).await;
    if !matches!(&result, Err(e) if e.code == 409) {
        let set = meta::name(sts).to_string();
        let kind = ("StatefulSet", "apps/v1");
        super::events::creation(api, "statefulset-controller", sts, kind, &result, |n| {
            format!("create Pod {n} in StatefulSet {set} successful")
        })
        .await;
    }
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

async fn write_status(
    api: &Api,
    def: &crate::registry::ResourceDef,
    sts: &Value,
    pods: &[Value],
) -> Result<(), ApiError> {
    let active: Vec<&Value> = pods.iter().filter(|p| is_active(p)).collect();
    let ready = active.iter().filter(|p| is_ready(p)).count();
    let revision = format!(
        "{}-{}",
        meta::name(sts),
        super::template::template_hash(sts.pointer("/spec/template").unwrap_or(&Value::Null))
    );
    let status = json!({
        "observedGeneration": sts.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "replicas": active.len(),
        "readyReplicas": ready,
        "currentReplicas": active.len(),
        "updatedReplicas": active.len(),
        "availableReplicas": ready,
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
    });
    super::runtime::write_status(api, def, sts, "statefulset-controller", status).await
}
