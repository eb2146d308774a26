//! The reconcile state machine: a pure function from a VirtualCluster and what was observed
//! about it to the next step and the status to report.
//!
//! The controller loops: observe, [`decide`], run the step, observe again, until no step is left;
//! then it writes the status and requeues. Every branch is unit-tested without an API server.
//!
//! Phases: `Pending` (accepted) → `Provisioning` (root namespace, PKI, control plane) →
//! `Running`; `Failed` from any point, retried with exponential backoff and left as soon as the
//! cause is gone (never terminal); `Deleting` once a deletion is requested.

use std::time::Duration;

use crds::condition::{
    CONDITION_CONTROL_PLANE_READY, CONDITION_PKI_READY, CONDITION_READY, find_condition,
    set_condition,
};
use crds::{ClusterCondition, ClusterPhase, VirtualCluster, VirtualClusterStatus};
use jiff::Timestamp;

use crate::pki::PkiPlan;
use crate::validate::SpecProblem;

/// The finalizer vc-manager keeps on every VirtualCluster it provisions.
pub const FINALIZER: &str = "tenancy.x-k8s.io/vc-manager";

/// Timings of the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timings {
    /// How long a control plane may take to become ready before the VC is `Failed`.
    pub provision_timeout: Duration,
    /// First retry delay after a failure; doubled on each consecutive failure.
    pub backoff_base: Duration,
    /// Longest retry delay after failures.
    pub backoff_max: Duration,
    /// How often a provisioning control plane is polled.
    pub poll: Duration,
    /// Longest wait between two reconciles of a healthy VC (PKI renewal checks, drift).
    pub resync: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            provision_timeout: Duration::from_secs(600),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            poll: Duration::from_secs(2),
            resync: Duration::from_secs(600),
        }
    }
}

/// The tenant's root namespace as found in the super cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootNamespace {
    /// It does not exist.
    Absent,
    /// It exists and its annotations name this VirtualCluster.
    Owned {
        /// It is being deleted.
        terminating: bool,
    },
    /// It exists but belongs to something else; vc-manager never touches it.
    Foreign {
        /// Who it seems to belong to.
        detail: String,
    },
}

/// The tenant control plane as the provisioner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlPlane {
    /// Nothing is running yet.
    Absent,
    /// Starting or not ready; `detail` says what is awaited.
    Progressing {
        /// What is not ready yet.
        detail: String,
    },
    /// It answers; `detail` says where.
    Ready {
        /// E.g. the server URL.
        detail: String,
    },
    /// It cannot work as specified.
    Failed {
        /// CamelCase reason.
        reason: String,
        /// What failed and what to do.
        message: String,
    },
}

/// Everything [`decide`] looks at besides the VirtualCluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// The time of the observation.
    pub now: Timestamp,
    /// The tenant's cluster key (or why it cannot be computed).
    pub cluster_key: Result<String, String>,
    /// The spec check (absent while deleting).
    pub spec: Result<(), SpecProblem>,
    /// The root namespace.
    pub root_namespace: RootNamespace,
    /// Whether the provisioner knows the control plane's addresses (after its prepare step).
    pub endpoints_known: bool,
    /// The PKI plan (once the endpoints are known).
    pub pki: Option<PkiPlan>,
    /// The control plane.
    pub control_plane: ControlPlane,
    /// The control plane was (re)applied during this reconcile.
    pub applied: bool,
    /// Whatever the provisioner runs outside the root namespace is gone (deletion).
    pub torn_down: bool,
    /// Consecutive failed reconciles before this one.
    pub failures: u32,
}

/// The next thing the controller does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Add [`FINALIZER`].
    AddFinalizer,
    /// Create the root namespace with the contract's annotations.
    CreateRootNamespace,
    /// Let the provisioner fix the control plane's addresses (native: apply the Services).
    Prepare,
    /// Issue the planned PKI items.
    IssuePki,
    /// Apply or start the control plane.
    ApplyControlPlane,
    /// Stop what the provisioner runs outside the root namespace.
    Teardown,
    /// Delete the root namespace (and with it the secrets and workloads).
    DeleteRootNamespace,
    /// Remove [`FINALIZER`], letting the VirtualCluster go.
    RemoveFinalizer,
}

/// What [`decide`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The status to report.
    pub status: VirtualClusterStatus,
    /// The step to run now; `None` when the VC needs nothing until `requeue`.
    pub step: Option<Step>,
    /// When to look again if nothing else triggers a reconcile.
    pub requeue: Duration,
    /// Whether this outcome counts as a failure (for the backoff).
    pub failed: bool,
}

struct Builder<'a> {
    vc: &'a VirtualCluster,
    obs: &'a Observed,
    status: VirtualClusterStatus,
}

impl<'a> Builder<'a> {
    fn new(vc: &'a VirtualCluster, obs: &'a Observed) -> Self {
        let mut status = vc.status.clone().unwrap_or_default();
        status.observed_generation = vc.metadata.generation;
        if let Ok(key) = &obs.cluster_key {
            status.cluster_namespace = Some(key.clone());
        }
        Builder { vc, obs, status }
    }

    fn condition(&mut self, type_: &str, status: &str, reason: &str, message: &str) {
        set_condition(
            &mut self.status.conditions,
            ClusterCondition {
                type_: type_.to_string(),
                status: status.to_string(),
                last_transition_time: Some(self.obs.now.to_string()),
                reason: Some(reason.to_string()),
                message: (!message.is_empty()).then(|| message.to_string()),
            },
        );
    }

    fn phase(&mut self, phase: ClusterPhase, reason: &str, message: &str) {
        self.status.phase = Some(phase);
        self.status.reason = Some(reason.to_string());
        self.status.message = Some(message.to_string());
        if phase != ClusterPhase::Running {
            self.condition(CONDITION_READY, "False", reason, message);
        }
    }

    fn step(self, step: Step) -> Decision {
        Decision {
            status: self.status,
            step: Some(step),
            requeue: Duration::ZERO,
            failed: false,
        }
    }

    fn wait(self, requeue: Duration) -> Decision {
        Decision {
            status: self.status,
            step: None,
            requeue,
            failed: false,
        }
    }

    fn fail(mut self, timings: &Timings, reason: &str, message: &str) -> Decision {
        self.phase(ClusterPhase::Failed, reason, message);
        let requeue = backoff(timings, self.obs.failures);
        Decision {
            status: self.status,
            step: None,
            requeue,
            failed: true,
        }
    }

    fn has_finalizer(&self) -> bool {
        self.vc
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
    }
}

/// Retry delay after `failures` consecutive failures: base · 2^failures, capped.
pub fn backoff(t: &Timings, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.min(20));
    t.backoff_base.saturating_mul(factor).min(t.backoff_max)
}

/// Decides the next step and the status of `vc`.
pub fn decide(vc: &VirtualCluster, obs: &Observed, t: &Timings) -> Decision {
    let b = Builder::new(vc, obs);
    if vc.metadata.deletion_timestamp.is_some() {
        return decide_deletion(b, t);
    }
    decide_apply(b, t)
}

fn decide_deletion(mut b: Builder<'_>, t: &Timings) -> Decision {
    if !b.has_finalizer() {
        return b.wait(Duration::ZERO);
    }
    let ns = b.status.cluster_namespace.clone().unwrap_or_default();
    if !b.obs.torn_down {
        b.phase(
            ClusterPhase::Deleting,
            "StoppingControlPlane",
            "stopping the control plane",
        );
        return b.step(Step::Teardown);
    }
    match &b.obs.root_namespace {
        RootNamespace::Owned { terminating: false } => {
            let msg = format!("deleting root namespace {ns}");
            b.phase(ClusterPhase::Deleting, "DeletingRootNamespace", &msg);
            b.step(Step::DeleteRootNamespace)
        }
        RootNamespace::Owned { terminating: true } => {
            let msg = format!("waiting for root namespace {ns} to be deleted");
            b.phase(ClusterPhase::Deleting, "DeletingRootNamespace", &msg);
            b.wait(t.poll)
        }
        RootNamespace::Absent | RootNamespace::Foreign { .. } => {
            b.phase(
                ClusterPhase::Deleting,
                "Deleted",
                "everything provisioned is gone",
            );
            b.step(Step::RemoveFinalizer)
        }
    }
}

fn decide_apply(mut b: Builder<'_>, t: &Timings) -> Decision {
    if b.status.phase.is_none() {
        b.phase(
            ClusterPhase::Pending,
            "Accepted",
            "waiting to be provisioned",
        );
    }
    if !b.has_finalizer() {
        return b.step(Step::AddFinalizer);
    }
    let key = match &b.obs.cluster_key {
        Ok(key) => key.clone(),
        Err(e) => return b.fail(t, "InvalidName", e),
    };
    if let Err(p) = &b.obs.spec {
        return b.fail(t, p.reason, &p.message);
    }
    match &b.obs.root_namespace {
        RootNamespace::Absent => {
            let msg = format!("creating root namespace {key}");
            b.phase(ClusterPhase::Provisioning, "CreatingRootNamespace", &msg);
            return b.step(Step::CreateRootNamespace);
        }
        RootNamespace::Foreign { detail } => {
            let msg = format!(
                "namespace {key} already exists and does not belong to this VirtualCluster \
                 ({detail}); delete that namespace or recreate the VirtualCluster under another \
                 name"
            );
            return b.fail(t, "RootNamespaceConflict", &msg);
        }
        RootNamespace::Owned { terminating: true } => {
            let msg = format!("namespace {key} is still being deleted; waiting for it to go");
            b.phase(ClusterPhase::Provisioning, "RootNamespaceTerminating", &msg);
            return b.wait(t.poll);
        }
        RootNamespace::Owned { terminating: false } => {}
    }
    if !b.obs.endpoints_known {
        if b.status.phase != Some(ClusterPhase::Running) {
            b.phase(
                ClusterPhase::Provisioning,
                "PreparingControlPlane",
                "preparing control-plane addresses",
            );
        }
        return b.step(Step::Prepare);
    }
    let Some(pki) = b.obs.pki.clone() else {
        return b.step(Step::Prepare);
    };
    if let Some(blocked) = &pki.blocked {
        b.condition(CONDITION_PKI_READY, "False", "PKIBlocked", blocked);
        return b.fail(t, "PKIBlocked", blocked);
    }
    if !pki.issue.is_empty() {
        let msg = format!("issuing {}", pki.summary());
        b.condition(CONDITION_PKI_READY, "False", "Issuing", &msg);
        if b.status.phase != Some(ClusterPhase::Running) {
            b.phase(ClusterPhase::Provisioning, "IssuingPKI", &msg);
        }
        return b.step(Step::IssuePki);
    }
    b.condition(CONDITION_PKI_READY, "True", "Issued", "");
    if !b.obs.applied {
        return b.step(Step::ApplyControlPlane);
    }
    decide_control_plane(b, t, &pki)
}

fn decide_control_plane(mut b: Builder<'_>, t: &Timings, pki: &PkiPlan) -> Decision {
    let was_running = b.status.phase == Some(ClusterPhase::Running);
    match b.obs.control_plane.clone() {
        ControlPlane::Ready { detail } => {
            b.condition(CONDITION_CONTROL_PLANE_READY, "True", "Ready", &detail);
            b.condition(CONDITION_READY, "True", "Ready", "");
            b.status.phase = Some(ClusterPhase::Running);
            b.status.reason = Some("Ready".into());
            b.status.message = Some(format!("control plane is ready: {detail}"));
            let now = b.obs.now.as_second();
            let until_renewal = pki
                .next_renewal
                .map(|at| Duration::from_secs((at - now).max(1) as u64));
            let requeue = until_renewal.map_or(t.resync, |d| d.min(t.resync));
            b.wait(requeue)
        }
        ControlPlane::Failed { reason, message } => {
            b.condition(CONDITION_CONTROL_PLANE_READY, "False", &reason, &message);
            b.fail(t, &reason, &message)
        }
        ControlPlane::Absent | ControlPlane::Progressing { .. } => {
            let detail = match &b.obs.control_plane {
                ControlPlane::Progressing { detail } => detail.clone(),
                _ => "starting".to_string(),
            };
            if b.vc.status.as_ref().and_then(|s| s.observed_generation) != b.vc.metadata.generation
            {
                // A changed spec deserves a fresh timeout.
                b.status
                    .conditions
                    .retain(|c| c.type_ != CONDITION_CONTROL_PLANE_READY);
            }
            let since = not_ready_since(&b.status.conditions, b.obs.now);
            let waited = b.obs.now.as_second() - since.as_second();
            if waited >= t.provision_timeout.as_secs() as i64 {
                let msg = format!(
                    "control plane not ready after {}s: {detail}; check the control-plane pods \
                     or processes in namespace {}",
                    waited,
                    b.status.cluster_namespace.clone().unwrap_or_default()
                );
                b.condition(
                    CONDITION_CONTROL_PLANE_READY,
                    "False",
                    "ProvisionTimeout",
                    &msg,
                );
                return b.fail(t, "ProvisionTimeout", &msg);
            }
            b.condition(CONDITION_CONTROL_PLANE_READY, "False", "Starting", &detail);
            if was_running {
                // Like a pod: still Running, but not Ready, until the timeout says otherwise.
                b.condition(CONDITION_READY, "False", "ControlPlaneNotReady", &detail);
                b.status.message = Some(format!("control plane is not ready: {detail}"));
            } else {
                let msg = format!("waiting for the control plane: {detail}");
                b.phase(ClusterPhase::Provisioning, "WaitingForControlPlane", &msg);
            }
            b.wait(t.poll)
        }
    }
}

/// When `ControlPlaneReady` last stopped being `True` (now if it never was anything else).
fn not_ready_since(conditions: &[ClusterCondition], now: Timestamp) -> Timestamp {
    find_condition(conditions, CONDITION_CONTROL_PLANE_READY)
        .filter(|c| c.status == "False")
        .and_then(|c| c.last_transition_time.as_deref())
        .and_then(|t| t.parse::<Timestamp>().ok())
        .unwrap_or(now)
}

#[cfg(test)]
mod tests;
