//! The printer of autoscaling/v2 HorizontalPodAutoscalers and its metric summary.

use serde_json::{Value, json};

use super::common::*;

/// Upstream's printer for HorizontalPodAutoscalers.
pub fn horizontal_pod_autoscaler() -> Printer {
    let spec = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec";
    Printer {
        columns: vec![
            NAME,
            Col("Reference", "string", 0, Doc::Field(spec, "scaleTargetRef")),
            Col("Targets", "string", 0, Doc::Field(spec, "metrics")),
            Col("MinPods", "string", 0, Doc::Field(spec, "minReplicas")),
            Col("MaxPods", "string", 0, Doc::Field(spec, "maxReplicas")),
            Col(
                "Replicas",
                "string",
                0,
                Doc::Field(
                    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus",
                    "currentReplicas",
                ),
            ),
            AGE,
        ],
        print: |o, now| {
            let reference = format!(
                "{}/{}",
                s(o, "/spec/scaleTargetRef/kind"),
                s(o, "/spec/scaleTargetRef/name")
            );
            let min = match o.pointer("/spec/minReplicas").and_then(Value::as_i64) {
                Some(m) => m.to_string(),
                None => "<unset>".to_owned(),
            };
            cells([
                name(o),
                reference.into(),
                hpa_metrics(arr(o, "/spec/metrics"), arr(o, "/status/currentMetrics")).into(),
                min.into(),
                json!(n(o, "/spec/maxReplicas")),
                json!(n(o, "/status/currentReplicas")),
                created(o, now),
            ])
        },
    }
}

/// A quantity at `ptr` below `v`; upstream prints a missing quantity pointer as `<nil>`.
fn quantity(v: Option<&Value>, ptr: &str) -> String {
    match v.and_then(|v| v.pointer(ptr)) {
        None | Some(Value::Null) => "<nil>".to_owned(),
        Some(q) => text(q),
    }
}

/// `current/target` per metric (the first two, then ` + N more...`): the current value comes
/// from the status entry at the same index when it is of the same source type.
pub(super) fn hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    const MAX: usize = 2;
    if specs.is_empty() {
        return "<none>".to_owned();
    }
    let mut list: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        // The status entry's block for the same source (`external`, `pods`, ...), if any.
        let status = |field: &str| {
            statuses
                .get(i)
                .and_then(|st| st.get(field))
                .filter(|v| v.is_object())
        };
        let entry = match s(spec, "/type") {
            kind @ ("External" | "Object") => {
                let field = if kind == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = spec.get(field);
                if target
                    .and_then(|t| t.pointer("/target/averageValue"))
                    .is_some_and(|v| !v.is_null())
                {
                    let current = match status(field)
                        .and_then(|st| st.pointer("/current/averageValue"))
                        .filter(|v| !v.is_null())
                    {
                        Some(q) => text(q),
                        None => "<unknown>".to_owned(),
                    };
                    let avg = quantity(target, "/target/averageValue");
                    format!("{current}/{avg} (avg)")
                } else {
                    let current = match status(field) {
                        Some(st) => quantity(Some(st), "/current/value"),
                        None => "<unknown>".to_owned(),
                    };
                    format!("{current}/{}", quantity(target, "/target/value"))
                }
            }
            "Pods" => {
                let current = match status("pods") {
                    Some(st) => quantity(Some(st), "/current/averageValue"),
                    None => "<unknown>".to_owned(),
                };
                let target = quantity(spec.get("pods"), "/target/averageValue");
                format!("{current}/{target}")
            }
            kind @ ("Resource" | "ContainerResource") => {
                let field = if kind == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                resource_metric(spec.get(field), status(field))
            }
            _ => "<unknown type>".to_owned(),
        };
        list.push(entry);
    }
    let count = list.len();
    list.truncate(MAX);
    let joined = list.join(", ");
    if count > MAX {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

/// `name: current/target` of a (container) resource metric, by average value or utilization.
fn resource_metric(spec: Option<&Value>, status: Option<&Value>) -> String {
    let resource = spec
        .and_then(|r| r.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let by_value = spec
        .and_then(|r| r.pointer("/target/averageValue"))
        .is_some_and(|v| !v.is_null());
    if by_value {
        let current = match status {
            Some(st) => quantity(Some(st), "/current/averageValue"),
            None => "<unknown>".to_owned(),
        };
        let target = quantity(spec, "/target/averageValue");
        return format!("{resource}: {current}/{target}");
    }
    let percent = |v: Option<&Value>, ptr: &str| {
        v.and_then(|v| v.pointer(ptr))
            .and_then(Value::as_i64)
            .map(|p| format!("{p}%"))
    };
    let current =
        percent(status, "/current/averageUtilization").unwrap_or_else(|| "<unknown>".to_owned());
    let target = percent(spec, "/target/averageUtilization").unwrap_or_else(|| "<auto>".to_owned());
    format!("{resource}: {current}/{target}")
}
