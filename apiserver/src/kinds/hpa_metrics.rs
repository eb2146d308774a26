//! Metric specs and statuses between `autoscaling/v2` and the `autoscaling/v1` shape kept in
//! the v1 object's `autoscaling.alpha.kubernetes.io/metrics` and `.../current-metrics`
//! annotations (upstream's `pkg/apis/autoscaling/v1` conversions).

use serde_json::{Map, Value, json};

/// Inserts `v` at `k` unless it is missing or null.
fn put(o: &mut Map<String, Value>, k: &str, v: Option<&Value>) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        o.insert(k.to_string(), v.clone());
    }
}

fn obj(pairs: &[(&str, Option<&Value>)]) -> Value {
    let mut o = Map::new();
    for (k, v) in pairs {
        put(&mut o, k, *v);
    }
    Value::Object(o)
}

/// A v2 `MetricSpec` in v1's form.
pub fn spec_to_v1(m: &Value) -> Value {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
    let p = |ptr: &str| m.pointer(ptr);
    let (key, body) = match kind {
        "Object" => (
            "object",
            obj(&[
                ("target", p("/object/describedObject")),
                ("metricName", p("/object/metric/name")),
                ("targetValue", p("/object/target/value")),
                ("selector", p("/object/metric/selector")),
                ("averageValue", p("/object/target/averageValue")),
            ]),
        ),
        "Pods" => (
            "pods",
            obj(&[
                ("metricName", p("/pods/metric/name")),
                ("targetAverageValue", p("/pods/target/averageValue")),
                ("selector", p("/pods/metric/selector")),
            ]),
        ),
        "Resource" | "ContainerResource" => {
            let key = if kind == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let base = format!("/{key}");
            let at = |s: &str| m.pointer(&format!("{base}{s}"));
            (
                key,
                obj(&[
                    ("name", at("/name")),
                    ("targetAverageUtilization", at("/target/averageUtilization")),
                    ("targetAverageValue", at("/target/averageValue")),
                    ("container", at("/container")),
                ]),
            )
        }
        "External" => (
            "external",
            obj(&[
                ("metricName", p("/external/metric/name")),
                ("metricSelector", p("/external/metric/selector")),
                ("targetValue", p("/external/target/value")),
                ("targetAverageValue", p("/external/target/averageValue")),
            ]),
        ),
        _ => return m.clone(),
    };
    json!({"type": kind, key: body})
}

/// A v1 `MetricSpec` (from the annotation) in v2's form, with upstream's target types.
pub fn spec_from_v1(m: &Value) -> Value {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
    let p = |ptr: &str| m.pointer(ptr);
    let target = |kind: &str, value: Option<&Value>, average: Option<&Value>| {
        obj(&[
            ("type", Some(&json!(kind))),
            ("value", value),
            ("averageValue", average),
        ])
    };
    let metric =
        |name: Option<&Value>, sel: Option<&Value>| obj(&[("name", name), ("selector", sel)]);
    match kind {
        "Object" => {
            let average = p("/object/averageValue");
            let t = if average.is_some() {
                "AverageValue"
            } else {
                "Value"
            };
            json!({"type": kind, "object": {
                "describedObject": p("/object/target").cloned().unwrap_or(json!({})),
                "metric": metric(p("/object/metricName"), p("/object/selector")),
                "target": target(t, p("/object/targetValue"), average),
            }})
        }
        "Pods" => json!({"type": kind, "pods": {
            "metric": metric(p("/pods/metricName"), p("/pods/selector")),
            "target": target("AverageValue", None, p("/pods/targetAverageValue")),
        }}),
        "Resource" | "ContainerResource" => {
            let key = if kind == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let at = |s: &str| m.pointer(&format!("/{key}{s}"));
            let util = at("/targetAverageUtilization");
            let t = if util.is_some() {
                obj(&[
                    ("type", Some(&json!("Utilization"))),
                    ("averageUtilization", util),
                ])
            } else {
                target("AverageValue", None, at("/targetAverageValue"))
            };
            let mut body = obj(&[("name", at("/name")), ("container", at("/container"))]);
            body["target"] = t;
            json!({"type": kind, key: body})
        }
        "External" => {
            let average = p("/external/targetAverageValue");
            let t = if average.is_some() {
                "AverageValue"
            } else {
                "Value"
            };
            json!({"type": kind, "external": {
                "metric": metric(p("/external/metricName"), p("/external/metricSelector")),
                "target": target(t, p("/external/targetValue"), average),
            }})
        }
        _ => m.clone(),
    }
}

/// A v2 `MetricStatus` in v1's form.
pub fn status_to_v1(m: &Value) -> Value {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
    let p = |ptr: &str| m.pointer(ptr);
    let (key, body) = match kind {
        "Object" => (
            "object",
            obj(&[
                ("target", p("/object/describedObject")),
                ("metricName", p("/object/metric/name")),
                ("currentValue", p("/object/current/value")),
                ("selector", p("/object/metric/selector")),
                ("averageValue", p("/object/current/averageValue")),
            ]),
        ),
        "Pods" => (
            "pods",
            obj(&[
                ("metricName", p("/pods/metric/name")),
                ("currentAverageValue", p("/pods/current/averageValue")),
                ("selector", p("/pods/metric/selector")),
            ]),
        ),
        "Resource" | "ContainerResource" => {
            let key = if kind == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let at = |s: &str| m.pointer(&format!("/{key}{s}"));
            (
                key,
                obj(&[
                    ("name", at("/name")),
                    (
                        "currentAverageUtilization",
                        at("/current/averageUtilization"),
                    ),
                    ("currentAverageValue", at("/current/averageValue")),
                    ("container", at("/container")),
                ]),
            )
        }
        "External" => (
            "external",
            obj(&[
                ("metricName", p("/external/metric/name")),
                ("metricSelector", p("/external/metric/selector")),
                ("currentValue", p("/external/current/value")),
                ("currentAverageValue", p("/external/current/averageValue")),
            ]),
        ),
        _ => return m.clone(),
    };
    json!({"type": kind, key: body})
}

/// A v1 `MetricStatus` (from the annotation) in v2's form.
pub fn status_from_v1(m: &Value) -> Value {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
    let p = |ptr: &str| m.pointer(ptr);
    let metric =
        |name: Option<&Value>, sel: Option<&Value>| obj(&[("name", name), ("selector", sel)]);
    match kind {
        "Object" => json!({"type": kind, "object": {
            "describedObject": p("/object/target").cloned().unwrap_or(json!({})),
            "metric": metric(p("/object/metricName"), p("/object/selector")),
            "current": obj(&[("value", p("/object/currentValue")),
                ("averageValue", p("/object/averageValue"))]),
        }}),
        "Pods" => json!({"type": kind, "pods": {
            "metric": metric(p("/pods/metricName"), p("/pods/selector")),
            "current": obj(&[("averageValue", p("/pods/currentAverageValue"))]),
        }}),
        "Resource" | "ContainerResource" => {
            let key = if kind == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let at = |s: &str| m.pointer(&format!("/{key}{s}"));
            let mut body = obj(&[("name", at("/name")), ("container", at("/container"))]);
            body["current"] = obj(&[
                ("averageUtilization", at("/currentAverageUtilization")),
                ("averageValue", at("/currentAverageValue")),
            ]);
            json!({"type": kind, key: body})
        }
        "External" => json!({"type": kind, "external": {
            "metric": metric(p("/external/metricName"), p("/external/metricSelector")),
            "current": obj(&[("value", p("/external/currentValue")),
                ("averageValue", p("/external/currentAverageValue"))]),
        }}),
        _ => m.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip() {
        for m in [
            json!({"type": "Pods", "pods": {"metric": {"name": "qps"},
                "target": {"type": "AverageValue", "averageValue": "1k"}}}),
            json!({"type": "Resource", "resource": {"name": "memory",
                "target": {"type": "AverageValue", "averageValue": "100Mi"}}}),
            json!({"type": "External", "external": {"metric": {"name": "q"},
                "target": {"type": "Value", "value": "3"}}}),
            json!({"type": "Object", "object": {"describedObject": {"kind": "Service", "name": "s"},
                "metric": {"name": "rps"}, "target": {"type": "Value", "value": "10"}}}),
        ] {
            assert_eq!(spec_from_v1(&spec_to_v1(&m)), m);
        }
    }

    #[test]
    fn statuses_round_trip() {
        let m = json!({"type": "Resource", "resource": {"name": "memory",
            "current": {"averageValue": "10Mi"}}});
        assert_eq!(status_from_v1(&status_to_v1(&m)), m);
    }
}
