//! Which Kubernetes events a status change deserves: a pure function, so that events say what
//! happened exactly once per transition rather than on every reconcile.

use crds::{ClusterPhase, VirtualClusterStatus};

/// An event to publish on the VirtualCluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// `Warning` or not.
    pub warning: bool,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
}

/// The event for a status change, if it is one worth telling: a new phase, a new reason, or a
/// new failure message.
pub fn transition(old: Option<&VirtualClusterStatus>, new: &VirtualClusterStatus) -> Option<Note> {
    let changed = match old {
        None => true,
        Some(old) => {
            old.phase != new.phase
                || old.reason != new.reason
                || (new.phase == Some(ClusterPhase::Failed) && old.message != new.message)
        }
    };
    if !changed {
        return None;
    }
    let phase = new.phase?;
    let reason = new
        .reason
        .clone()
        .unwrap_or_else(|| phase.as_str().to_string());
    let message = match &new.message {
        Some(m) if !m.is_empty() => format!("{}: {m}", phase.as_str()),
        _ => phase.as_str().to_string(),
    };
    Some(Note {
        warning: phase == ClusterPhase::Failed,
        reason,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(phase: ClusterPhase, reason: &str, message: &str) -> VirtualClusterStatus {
        VirtualClusterStatus {
            phase: Some(phase),
            reason: Some(reason.into()),
            message: Some(message.into()),
            ..Default::default()
        }
    }

    #[test]
    fn one_event_per_transition() {
        let a = status(ClusterPhase::Provisioning, "IssuingPKI", "issuing root-ca");
        let n = transition(None, &a).unwrap();
        assert!(!n.warning);
        assert_eq!(n.reason, "IssuingPKI");
        assert_eq!(n.message, "Provisioning: issuing root-ca");
        assert_eq!(transition(Some(&a), &a), None);
        let mut same_reason = a.clone();
        same_reason.message = Some("other detail".into());
        assert_eq!(
            transition(Some(&a), &same_reason),
            None,
            "progress detail is not news"
        );

        let f = status(
            ClusterPhase::Failed,
            "InvalidServiceCIDR",
            "spec.serviceCidr bad",
        );
        let n = transition(Some(&a), &f).unwrap();
        assert!(n.warning);
        assert_eq!(n.reason, "InvalidServiceCIDR");
        let mut f2 = f.clone();
        f2.message = Some("spec.serviceCidr worse".into());
        assert!(
            transition(Some(&f), &f2).unwrap().warning,
            "a new failure message is news"
        );
    }
}
