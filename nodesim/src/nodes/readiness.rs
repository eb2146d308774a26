//! A node's readiness: read from its conditions, and mirrored in the not-ready taint.

use k8s_openapi::api::core::v1::{NodeCondition, Taint};

/// Taint the node lifecycle controller puts on NotReady nodes (nodesim applies it itself).
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";

/// `taints` with the not-ready taint added (not `ready`) or removed (`ready`); every other
/// taint, whoever set it, stays as it is.
pub fn with_readiness_taint(taints: &[Taint], ready: bool) -> Vec<Taint> {
    let is_not_ready = |t: &Taint| t.key == TAINT_NOT_READY && t.effect == "NoSchedule";
    let mut out: Vec<Taint> = taints
        .iter()
        .filter(|t| !is_not_ready(t))
        .cloned()
        .collect();
    if !ready {
        out.push(Taint {
            key: TAINT_NOT_READY.into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        });
    }
    out
}

/// Whether `conditions` hold a `Ready` condition that is `True`.
pub(crate) fn ready_of(conditions: &[NodeCondition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}
