//! The horizontal pod autoscaler controller (kube-controller-manager's
//! `horizontalpodautoscaling`) as it behaves without a metrics API: it reads the target's scale
//! and reports it (`currentReplicas`, `AbleToScale`), and reports every metric as unavailable
//! (`ScalingActive` False) — so it never changes the target's replicas.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::runtime::{Controller, Key, Requeue, keys_in, keys_of, write_status};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::kinds::pdb::set_condition;
use crate::{meta, storage};

/// Storage key of HorizontalPodAutoscalers.
const HPAS: &str = "autoscaling/horizontalpodautoscalers";

/// Upstream's `--horizontal-pod-autoscaler-sync-period`.
const SYNC_PERIOD: Duration = Duration::from_secs(15);

/// Field manager of the status writes.
const MANAGER: &str = "kube-controller-manager";

/// Why metrics cannot be read: this server serves no `metrics.k8s.io`, as a cluster without
/// metrics-server (upstream's wording of the failed discovery).
const NO_RESOURCE_METRICS: &str = "unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)";

/// Storage keys of the scalable workloads whose writes change a target's scale.
const TARGETS: &[&str] = &[
    "apps/deployments",
    "apps/replicasets",
    "apps/statefulsets",
    "/replicationcontrollers",
];

/// The HPA controller.
pub struct HpaController;

impl Controller for HpaController {
    fn name(&self) -> &'static str {
        "horizontalpodautoscaling"
    }

    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key> {
        if change.storage == HPAS {
            return vec![(change.namespace.clone(), change.name.clone())];
        }
        if TARGETS.contains(&change.storage.as_str()) {
            return keys_in(api, HPAS, Some(&change.namespace));
        }
        Vec::new()
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, HPAS)
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "autoscaling", "horizontalpodautoscalers")?;
        let Some(hpa) = storage::get(&api, &def, &key.0, &key.1) else {
            return Ok(None);
        };
        if meta::is_deleting(&hpa) {
            return Ok(None);
        }
        let status = next_status(&api, &hpa);
        write_status(&api, &def, &hpa, MANAGER, status).await?;
        Ok(Some(SYNC_PERIOD))
    }
}

/// The status one sync of upstream's `reconcileAutoscaler` reports without metrics.
fn next_status(api: &Api, hpa: &Value) -> Value {
    let mut status = hpa.get("status").cloned().unwrap_or(json!({}));
    let Some(s) = status.as_object_mut() else {
        return status;
    };
    s.entry("currentMetrics").or_insert(Value::Null);
    s.entry("desiredReplicas").or_insert(json!(0));
    let mut conds: Vec<Value> = s
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match target_scale(api, hpa) {
        Err(e) => {
            set_condition(
                &mut conds,
                condition(
                    "AbleToScale",
                    false,
                    "FailedGetScale",
                    &format!(
                        "the HPA controller was unable to get the target's current scale: {e}"
                    ),
                ),
            );
        }
        Ok(current) => {
            set_condition(
                &mut conds,
                condition(
                    "AbleToScale",
                    true,
                    "SucceededGetScale",
                    "the HPA controller was able to get the target's current scale",
                ),
            );
            if current == 0 {
                s.remove("currentReplicas");
            } else {
                s.insert("currentReplicas".into(), json!(current));
            }
            let min = hpa
                .pointer("/spec/minReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if current == 0 && min != 0 {
                s.insert("desiredReplicas".into(), json!(0));
                set_condition(
                    &mut conds,
                    condition(
                        "ScalingActive",
                        false,
                        "ScalingDisabled",
                        "scaling is disabled since the replica count of the target is zero",
                    ),
                );
            } else if let Some((reason, err)) = first_metric_failure(hpa) {
                s.insert("currentMetrics".into(), Value::Null);
                set_condition(
                    &mut conds,
                    condition(
                        "ScalingActive",
                        false,
                        reason,
                        &format!("the HPA was unable to compute the replica count: {err}"),
                    ),
                );
            }
        }
    }
    s.insert("conditions".into(), Value::Array(conds));
    status
}

fn condition(kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    json!({
        "type": kind,
        "status": if ok { "True" } else { "False" },
        "lastTransitionTime": meta::now(),
        "reason": reason,
        "message": message,
    })
}

/// `spec.replicas` of the target's scale, or upstream's error text for a target that cannot
/// be scaled.
fn target_scale(api: &Api, hpa: &Value) -> Result<i64, String> {
    let r = |p: &str| {
        hpa.pointer(&format!("/spec/scaleTargetRef/{p}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let group = r("apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
    let kind = r("kind");
    let name = r("name");
    let def = api
        .registry
        .find_kind(group, kind)
        .ok_or_else(|| format!("no matches for kind {kind:?} in group {group:?}"))?;
    let scale_res = if group.is_empty() {
        format!("{}/scale", def.resource)
    } else {
        format!("{}/scale.{}", def.resource, group)
    };
    let not_found = || format!("{scale_res} {name:?} not found");
    if def.subresource("scale").is_none() {
        return Err(not_found());
    }
    let obj = storage::get(api, &def, meta::namespace(hpa), name).ok_or_else(not_found)?;
    Ok(obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1))
}

/// The condition reason and error of the first metric (all fail without a metrics API),
/// worded as upstream's `computeReplicasForMetric`.
fn first_metric_failure(hpa: &Value) -> Option<(&'static str, String)> {
    let metrics = hpa.pointer("/spec/metrics").and_then(Value::as_array)?;
    let m = metrics.first()?;
    let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
    let field = |p: &str| m.pointer(p).and_then(Value::as_str).unwrap_or_default();
    Some(match kind {
        "Resource" | "ContainerResource" => {
            let key = if kind == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let name = field(&format!("/{key}/name"));
            let what = if field(&format!("/{key}/target/type")) == "Utilization" {
                "utilization"
            } else {
                "usage"
            };
            let reason = if kind == "Resource" {
                "FailedGetResourceMetric"
            } else {
                "FailedGetContainerResourceMetric"
            };
            (
                reason,
                format!(
                    "failed to get {name} {what}: unable to get metrics for resource {name}: {NO_RESOURCE_METRICS}"
                ),
            )
        }
        "Pods" => (
            "FailedGetPodsMetric",
            custom_failure(field("/pods/metric/name")),
        ),
        "Object" => (
            "FailedGetObjectMetric",
            custom_failure(field("/object/metric/name")),
        ),
        "External" => (
            "FailedGetExternalMetric",
            format!(
                "unable to get external metric {}/{}/nil: unable to fetch metrics from external metrics API: the server could not find the requested resource (get .external.metrics.k8s.io)",
                meta::namespace(hpa),
                field("/external/metric/name")
            ),
        ),
        other => (
            "InvalidMetricSourceType",
            format!("unknown metric source type {other:?}"),
        ),
    })
}

fn custom_failure(metric: &str) -> String {
    format!(
        "unable to get metric {metric}: unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_metric_failures_read_as_upstream() {
        let hpa = json!({"spec": {"metrics": [{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 50}}}]}});
        let (reason, err) = first_metric_failure(&hpa).unwrap();
        assert_eq!(reason, "FailedGetResourceMetric");
        assert_eq!(
            err,
            format!(
                "failed to get cpu utilization: unable to get metrics for resource cpu: {NO_RESOURCE_METRICS}"
            )
        );
    }
}
