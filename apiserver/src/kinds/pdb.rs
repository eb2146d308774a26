//! PodDisruptionBudget rules shared by the disruption controller and the eviction subresource
//! (upstream's `pdbhelper` and the pieces of `intstr` and `podutil` they use): which pods a
//! budget selects, pod health, scaled int-or-percent values and the `DisruptionAllowed`
//! condition.

use serde_json::{Value, json};

use crate::kinds::workload::selector_from_json;
use crate::meta;

/// `status.conditions[].type` of a budget's condition.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
/// Reason when disruptions are allowed.
pub const SUFFICIENT_PODS: &str = "SufficientPods";
/// Reason when no disruption is allowed.
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
/// Reason when the controller could not compute the status.
pub const SYNC_FAILED: &str = "SyncFailed";

/// Whether budget `pdb` selects `pod`: same namespace, and its selector matches the pod's
/// labels. As upstream's `LabelSelectorAsSelector`, a missing selector selects nothing and an
/// empty one (`{}`) selects every pod; an invalid selector selects nothing.
pub fn selects(pdb: &Value, pod: &Value) -> bool {
    if meta::namespace(pdb) != meta::namespace(pod) {
        return false;
    }
    let Some(sel) = pdb.pointer("/spec/selector").filter(|s| !s.is_null()) else {
        return false;
    };
    match selector_from_json(sel) {
        Some(s) => s.matches_map(&meta::labels(pod)),
        None => false,
    }
}

/// Whether a pod is ready (`Ready=True`), upstream's `IsPodReady` (the PDB notion of healthy).
pub fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// `status.phase` of a pod ("" when unset).
pub fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// An int-or-string (`5` or `"50%"`) scaled against `total`, rounding percentages up or down,
/// with upstream's `GetScaledValueFromIntOrPercent` error messages.
pub fn scaled_value(v: &Value, total: i64, round_up: bool) -> Result<i64, String> {
    if let Some(n) = v.as_i64() {
        return Ok(n);
    }
    let Some(s) = v.as_str() else {
        return Err(
            "invalid value for IntOrString: invalid type: neither int nor percentage".into(),
        );
    };
    let Some(num) = s.strip_suffix('%') else {
        return Err(
            "invalid value for IntOrString: invalid type: string is not a percentage".into(),
        );
    };
    let pct: i64 = num.parse().map_err(|e| {
        format!(
            "invalid value for IntOrString: invalid value {s:?}: strconv.Atoi: parsing {num:?}: {e}"
        )
    })?;
    let scaled = pct as f64 * total as f64 / 100.0;
    Ok(if round_up {
        scaled.ceil() as i64
    } else {
        scaled.floor() as i64
    })
}

/// An `i64` status field of a budget (0 when unset).
pub fn status_int(pdb: &Value, field: &str) -> i64 {
    pdb.get("status")
        .and_then(|s| s.get(field))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Sets condition `cond` in `conditions` as upstream's `meta.SetStatusCondition` does: the
/// transition time only moves when the status changes.
pub fn set_condition(conditions: &mut Vec<Value>, mut cond: Value) {
    let kind = cond.get("type").cloned();
    match conditions
        .iter_mut()
        .find(|c| c.get("type") == kind.as_ref())
    {
        Some(existing) => {
            if existing.get("status") == cond.get("status")
                && let Some(t) = existing.get("lastTransitionTime").cloned()
            {
                cond["lastTransitionTime"] = t;
            }
            *existing = cond;
        }
        None => conditions.push(cond),
    }
}

/// A `DisruptionAllowed` condition of `status` at `observed_generation`.
pub fn condition(status: bool, reason: &str, message: &str, observed_generation: i64) -> Value {
    json!({
        "type": DISRUPTION_ALLOWED,
        "status": if status { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "observedGeneration": observed_generation,
        "lastTransitionTime": meta::now(),
    })
}

/// Upstream's `UpdateDisruptionAllowedCondition`: `SufficientPods` when `disruptionsAllowed`
/// is positive, `InsufficientPods` otherwise, at the status's observed generation.
pub fn update_disruption_allowed(status: &mut Value) {
    let allowed = status
        .get("disruptionsAllowed")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let generation = status
        .get("observedGeneration")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let cond = if allowed > 0 {
        condition(true, SUFFICIENT_PODS, "", generation)
    } else {
        condition(false, INSUFFICIENT_PODS, "", generation)
    };
    let mut conds = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    set_condition(&mut conds, cond);
    if let Some(o) = status.as_object_mut() {
        o.insert("conditions".into(), Value::Array(conds));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_rounds_as_upstream() {
        assert_eq!(scaled_value(&json!("50%"), 3, true), Ok(2));
        assert_eq!(scaled_value(&json!("50%"), 3, false), Ok(1));
        assert_eq!(scaled_value(&json!(2), 10, true), Ok(2));
        assert!(
            scaled_value(&json!("5"), 3, true)
                .unwrap_err()
                .contains("not a percentage")
        );
    }

    #[test]
    fn selectors_follow_policy_v1() {
        let pod = json!({"metadata": {"namespace": "d", "labels": {"app": "web"}}});
        let pdb = |sel: Value| json!({"metadata": {"namespace": "d"}, "spec": {"selector": sel}});
        assert!(selects(&pdb(json!({"matchLabels": {"app": "web"}})), &pod));
        assert!(selects(&pdb(json!({})), &pod));
        assert!(!selects(&pdb(Value::Null), &pod));
        assert!(!selects(&pdb(json!({"matchLabels": {"app": "db"}})), &pod));
        let other_ns = json!({"metadata": {"namespace": "e"}, "spec": {"selector": {}}});
        assert!(!selects(&other_ns, &pod));
    }

    #[test]
    fn condition_keeps_transition_time_while_status_holds() {
        let mut status = json!({"disruptionsAllowed": 0, "observedGeneration": 1,
            "conditions": [{"type": DISRUPTION_ALLOWED, "status": "False",
                "reason": INSUFFICIENT_PODS, "message": "", "observedGeneration": 1,
                "lastTransitionTime": "2020-01-01T00:00:00Z"}]});
        update_disruption_allowed(&mut status);
        assert_eq!(
            status["conditions"][0]["lastTransitionTime"],
            "2020-01-01T00:00:00Z"
        );
        status["disruptionsAllowed"] = json!(1);
        update_disruption_allowed(&mut status);
        assert_eq!(status["conditions"][0]["reason"], SUFFICIENT_PODS);
        assert_ne!(
            status["conditions"][0]["lastTransitionTime"],
            "2020-01-01T00:00:00Z"
        );
    }
}
