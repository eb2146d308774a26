//! Status conditions of VirtualClusters, upstream-compatible (`type` is our addition).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition type: the tenant PKI exists and is valid.
pub const CONDITION_PKI_READY: &str = "PKIReady";
/// Condition type: the control plane answers.
pub const CONDITION_CONTROL_PLANE_READY: &str = "ControlPlaneReady";
/// Condition type: the tenant can be used.
pub const CONDITION_READY: &str = "Ready";

/// One observation about a VirtualCluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCondition {
    /// Kind of condition, e.g. `Ready`.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: Option<String>,
    /// One-word CamelCase reason of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ClusterCondition {
    /// Whether the condition's status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// Sets `cond` in `conditions`, keeping `lastTransitionTime` when the status did not change.
/// Returns whether anything changed.
pub fn set_condition(conditions: &mut Vec<ClusterCondition>, mut cond: ClusterCondition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == cond.type_) {
        Some(existing) => {
            if existing.status == cond.status {
                cond.last_transition_time = existing.last_transition_time.clone();
            }
            if *existing == cond {
                return false;
            }
            *existing = cond;
            true
        }
        None => {
            conditions.push(cond);
            true
        }
    }
}

/// Finds a condition by type.
pub fn find_condition<'a>(
    conditions: &'a [ClusterCondition],
    type_: &str,
) -> Option<&'a ClusterCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(status: &str, time: &str, reason: &str) -> ClusterCondition {
        ClusterCondition {
            type_: CONDITION_READY.into(),
            status: status.into(),
            last_transition_time: Some(time.into()),
            reason: Some(reason.into()),
            message: None,
        }
    }

    #[test]
    fn same_status_keeps_transition_time() {
        let mut cs = vec![cond("True", "t1", "A")];
        assert!(set_condition(&mut cs, cond("True", "t2", "B")));
        assert_eq!(cs[0].last_transition_time.as_deref(), Some("t1"));
        assert_eq!(cs[0].reason.as_deref(), Some("B"));
        assert!(!set_condition(&mut cs, cond("True", "t3", "B")));
    }

    #[test]
    fn changed_status_takes_new_time() {
        let mut cs = vec![cond("True", "t1", "A")];
        assert!(set_condition(&mut cs, cond("False", "t2", "A")));
        assert_eq!(cs[0].last_transition_time.as_deref(), Some("t2"));
        assert_eq!(
            find_condition(&cs, CONDITION_READY).map(|c| c.is_true()),
            Some(false)
        );
    }
}
