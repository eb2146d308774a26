//! HorizontalPodAutoscaler: stored as `autoscaling/v2` and also served as `autoscaling/v1`,
//! converted as upstream does — v1's `targetCPUUtilizationPercentage` and
//! `currentCPUUtilizationPercentage` are the CPU utilization metric, and whatever v1 cannot
//! express (other metrics, behavior, conditions) travels in `autoscaling.alpha.kubernetes.io/*`
//! annotations of the v1 object.

use serde_json::{Map, Value, json};

use super::hpa_metrics::{spec_from_v1, spec_to_v1, status_from_v1, status_to_v1};
use crate::registry::def::Strategy;
use crate::table::Printer;

/// v1 annotation carrying the metrics besides CPU utilization.
pub const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// v1 annotation carrying the current values of those metrics.
pub const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// v1 annotation carrying the status conditions.
pub const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// v1 annotation carrying `spec.behavior`.
pub const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";

/// Utilization an HPA without metrics targets (upstream's v2 default).
const DEFAULT_CPU_UTILIZATION: i64 = 80;

/// The `autoscaling/v2` strategy: upstream's v2 defaults.
#[derive(Debug)]
pub struct HpaV2;

impl Strategy for HpaV2 {
    fn defaults(&self, obj: &mut Value) {
        default_v2(obj);
    }
}

/// The `autoscaling/v1` strategy: v1 defaults, and conversion to and from the stored v2.
#[derive(Debug)]
pub struct HpaV1;

impl Strategy for HpaV1 {
    fn defaults(&self, obj: &mut Value) {
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            spec.entry("minReplicas").or_insert(json!(1));
        }
    }
    fn converts(&self) -> bool {
        true
    }
    fn to_served(&self, stored: Value) -> Value {
        v2_to_v1(&stored)
    }
    fn to_stored(&self, served: Value) -> Value {
        let mut v2 = v1_to_v2(&served);
        default_v2(&mut v2);
        v2
    }
}

/// Upstream's `SetDefaults_HorizontalPodAutoscaler` (v2): one replica at least, and CPU
/// utilization of 80% when no metric is given.
fn default_v2(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.entry("minReplicas").or_insert(json!(1));
    let empty = spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if empty {
        spec.insert(
            "metrics".into(),
            json!([cpu_metric(DEFAULT_CPU_UTILIZATION)]),
        );
    }
}

fn cpu_metric(utilization: i64) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": utilization}}})
}

/// Whether a v2 metric spec is the CPU utilization target v1 names directly.
fn cpu_utilization(m: &Value) -> Option<&Value> {
    (m.get("type").and_then(Value::as_str) == Some("Resource")
        && m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu"))
    .then(|| m.pointer("/resource/target/averageUtilization"))
    .flatten()
    .filter(|v| !v.is_null())
}

fn current_cpu_utilization(m: &Value) -> Option<&Value> {
    (m.get("type").and_then(Value::as_str) == Some("Resource")
        && m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu"))
    .then(|| m.pointer("/resource/current/averageUtilization"))
    .flatten()
    .filter(|v| !v.is_null())
}

fn copy(from: &Value, to: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k).filter(|v| !v.is_null()) {
            to.insert(k.to_string(), v.clone());
        }
    }
}

/// The metadata of `obj` with the v1-only annotations removed (dropping an emptied map).
fn metadata_without_alpha(obj: &Value) -> Map<String, Value> {
    let mut m = obj
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
        for k in [METRICS, CURRENT_METRICS, CONDITIONS, BEHAVIOR] {
            a.remove(k);
        }
        if a.is_empty() {
            m.remove("annotations");
        }
    }
    m
}

fn annotate(meta: &mut Map<String, Value>, key: &str, v: &Value) {
    let a = meta.entry("annotations").or_insert_with(|| json!({}));
    if let Some(a) = a.as_object_mut() {
        a.insert(key.into(), json!(v.to_string()));
    }
}

fn annotation(obj: &Value, key: &str) -> Option<Value> {
    let text = obj.pointer("/metadata/annotations")?.get(key)?.as_str()?;
    serde_json::from_str(text).ok()
}

/// A stored (v2) HPA as `autoscaling/v1`.
pub fn v2_to_v1(v2: &Value) -> Value {
    let mut meta = metadata_without_alpha(v2);
    let spec2 = v2.get("spec").cloned().unwrap_or(json!({}));
    let mut spec = Map::new();
    copy(
        &spec2,
        &mut spec,
        &["scaleTargetRef", "minReplicas", "maxReplicas"],
    );
    let mut other = Vec::new();
    for m in spec2
        .get("metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match cpu_utilization(m) {
            Some(u) => {
                spec.insert("targetCPUUtilizationPercentage".into(), u.clone());
            }
            None => other.push(spec_to_v1(m)),
        }
    }
    if !other.is_empty() {
        annotate(&mut meta, METRICS, &Value::Array(other));
    }
    if let Some(b) = spec2.get("behavior").filter(|b| !b.is_null()) {
        annotate(&mut meta, BEHAVIOR, b);
    }
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("autoscaling/v1"));
    out.insert("kind".into(), json!("HorizontalPodAutoscaler"));
    if let Some(status2) = v2.get("status") {
        let mut status = Map::new();
        copy(
            status2,
            &mut status,
            &[
                "observedGeneration",
                "lastScaleTime",
                "currentReplicas",
                "desiredReplicas",
            ],
        );
        let mut other = Vec::new();
        for m in status2
            .get("currentMetrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match current_cpu_utilization(m) {
                Some(u) => {
                    status.insert("currentCPUUtilizationPercentage".into(), u.clone());
                }
                None => other.push(status_to_v1(m)),
            }
        }
        if !other.is_empty() {
            annotate(&mut meta, CURRENT_METRICS, &Value::Array(other));
        }
        let conds: Vec<Value> = status2
            .get("conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                let mut o = Map::new();
                copy(
                    c,
                    &mut o,
                    &["type", "status", "lastTransitionTime", "reason", "message"],
                );
                Value::Object(o)
            })
            .collect();
        if !conds.is_empty() {
            annotate(&mut meta, CONDITIONS, &Value::Array(conds));
        }
        out.insert("metadata".into(), Value::Object(meta));
        out.insert("spec".into(), Value::Object(spec));
        out.insert("status".into(), Value::Object(status));
    } else {
        out.insert("metadata".into(), Value::Object(meta));
        out.insert("spec".into(), Value::Object(spec));
    }
    Value::Object(out)
}

/// An `autoscaling/v1` HPA in its stored v2 form.
pub fn v1_to_v2(v1: &Value) -> Value {
    let meta = metadata_without_alpha(v1);
    let spec1 = v1.get("spec").cloned().unwrap_or(json!({}));
    let mut spec = Map::new();
    copy(
        &spec1,
        &mut spec,
        &["scaleTargetRef", "minReplicas", "maxReplicas"],
    );
    let mut metrics: Vec<Value> = Vec::new();
    if let Some(u) = spec1
        .get("targetCPUUtilizationPercentage")
        .and_then(Value::as_i64)
    {
        metrics.push(cpu_metric(u));
    }
    if let Some(Value::Array(other)) = annotation(v1, METRICS) {
        metrics.extend(other.iter().map(spec_from_v1));
    }
    if !metrics.is_empty() {
        spec.insert("metrics".into(), Value::Array(metrics));
    }
    if let Some(b) = annotation(v1, BEHAVIOR) {
        spec.insert("behavior".into(), b);
    }
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("autoscaling/v2"));
    out.insert("kind".into(), json!("HorizontalPodAutoscaler"));
    out.insert("metadata".into(), Value::Object(meta));
    out.insert("spec".into(), Value::Object(spec));
    if let Some(status1) = v1.get("status") {
        let mut status = Map::new();
        copy(
            status1,
            &mut status,
            &[
                "observedGeneration",
                "lastScaleTime",
                "currentReplicas",
                "desiredReplicas",
            ],
        );
        let mut current: Vec<Value> = Vec::new();
        if let Some(u) = status1.get("currentCPUUtilizationPercentage") {
            current.push(json!({"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": u}}}));
        }
        if let Some(Value::Array(other)) = annotation(v1, CURRENT_METRICS) {
            current.extend(other.iter().map(status_from_v1));
        }
        if !current.is_empty() {
            status.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(c) = annotation(v1, CONDITIONS) {
            status.insert("conditions".into(), c);
        }
        out.insert("status".into(), Value::Object(status));
    }
    Value::Object(out)
}

/// `kubectl get hpa` columns for `autoscaling/v1` objects: upstream prints both versions from
/// the same internal object, so the v2 printer runs on the converted object.
pub fn printer_v1() -> Printer {
    Printer {
        print: |o, now| {
            (crate::table::printers::horizontal_pod_autoscaler().print)(&v1_to_v2(o), now)
        },
        ..crate::table::printers::horizontal_pod_autoscaler()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_target_converts_both_ways() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "annotations": {"keep": "me"}},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 50}});
        let v2 = HpaV1.to_stored(v1.clone());
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(v2["spec"]["metrics"], json!([cpu_metric(50)]));
        assert_eq!(v2_to_v1(&v2), v1);
    }

    #[test]
    fn v1_without_target_gets_the_default_and_conditions_travel_in_annotations() {
        let v1 = json!({"metadata": {"name": "w"}, "spec": {"maxReplicas": 4}});
        let mut v2 = HpaV1.to_stored(v1);
        assert_eq!(v2["spec"]["minReplicas"], 1);
        v2["spec"]["metrics"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "Pods", "pods": {"metric": {"name": "qps"},
                "target": {"type": "AverageValue", "averageValue": "1"}}}));
        v2["status"] = json!({"currentReplicas": 2, "desiredReplicas": 0,
            "conditions": [{"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale",
                "message": "m", "lastTransitionTime": "2024-01-01T00:00:00Z"}]});
        let v1 = v2_to_v1(&v2);
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 80);
        let conds = v1["metadata"]["annotations"][CONDITIONS].as_str().unwrap();
        assert!(
            conds.starts_with(r#"[{"type":"AbleToScale","status":"True","lastTransitionTime""#)
        );
        let back = v1_to_v2(&v1);
        assert_eq!(back["spec"]["metrics"], v2["spec"]["metrics"]);
        assert_eq!(back["status"], v2["status"]);
        assert!(back["metadata"].get("annotations").is_none());
    }
}
