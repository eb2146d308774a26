//! The steps of starting a local instance, how progress is reported, and the error that names
//! the step that failed and why.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One step of `vcctl up`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Creating/checking the state directory.
    StateDir,
    /// Starting the super cluster's API server.
    SuperCluster,
    /// Installing the CRDs and the default ClusterVersion.
    Crds,
    /// Starting the simulated nodes.
    Nodes,
    /// Starting vn-agent.
    VnAgent,
    /// Starting the syncer.
    Syncer,
    /// Starting vc-manager.
    VcManager,
    /// A VirtualCluster reaching `Running`.
    TenantRunning(String),
    /// A probe pod running in a tenant.
    TenantPods(String),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::StateDir => f.write_str("state directory"),
            Step::SuperCluster => f.write_str("super cluster API server"),
            Step::Crds => f.write_str("CRDs and default ClusterVersion"),
            Step::Nodes => f.write_str("simulated nodes"),
            Step::VnAgent => f.write_str("vn-agent"),
            Step::Syncer => f.write_str("syncer"),
            Step::VcManager => f.write_str("vc-manager"),
            Step::TenantRunning(n) => write!(f, "VirtualCluster {n} Running"),
            Step::TenantPods(n) => write!(f, "VirtualCluster {n} runs pods"),
        }
    }
}

/// Receives progress while a local instance starts (called from several tasks at once).
pub trait Progress: Send + Sync {
    /// `step` started.
    fn started(&self, step: &Step);
    /// `step` finished after `took`; `detail` says what it produced (an address, a count).
    fn finished(&self, step: &Step, took: Duration, detail: &str);
    /// `step` failed after `took` (the error is returned as well).
    fn failed(&self, step: &Step, took: Duration, error: &LocalError) {
        let _ = (step, took, error);
    }
}

/// Progress that goes nowhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn started(&self, _: &Step) {}
    fn finished(&self, _: &Step, _: Duration, _: &str) {}
}

/// Why a local instance could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A step failed.
    #[error("{step}: {cause}")]
    Step {
        /// The step.
        step: Step,
        /// What went wrong, and what to do about it when we know.
        cause: String,
    },
    /// Another instance runs on the same state directory.
    #[error(
        "another `vcctl up` (pid {pid}) is running with state directory {}; stop it with \
         `vcctl down --dir {}` or choose another --dir",
        dir.display(),
        dir.display()
    )]
    AlreadyRunning {
        /// Its process id.
        pid: u32,
        /// The state directory.
        dir: PathBuf,
    },
}

impl LocalError {
    /// A failure of `step`.
    pub fn step(step: Step, cause: impl fmt::Display) -> Self {
        LocalError::Step {
            step,
            cause: cause.to_string(),
        }
    }

    /// The step that failed, if it was one.
    pub fn failed_step(&self) -> Option<&Step> {
        match self {
            LocalError::Step { step, .. } => Some(step),
            LocalError::AlreadyRunning { .. } => None,
        }
    }
}

/// `io` error text with what to do about it, worded for the causes people hit (port in use,
/// no permission).
pub fn explain_io(what: &str, e: &std::io::Error, hint: &str) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!("{what} is already in use; {hint}"),
        std::io::ErrorKind::PermissionDenied => format!("{what}: permission denied ({e}); {hint}"),
        _ => format!("{what}: {e}; {hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_step_and_cause() {
        let e = LocalError::step(Step::SuperCluster, "port 6443 is already in use");
        assert_eq!(
            e.to_string(),
            "super cluster API server: port 6443 is already in use"
        );
        assert_eq!(e.failed_step(), Some(&Step::SuperCluster));
        let e = LocalError::AlreadyRunning {
            pid: 7,
            dir: ".vc".into(),
        };
        assert!(e.to_string().contains("vcctl down --dir .vc"));
        let io = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        assert!(explain_io("127.0.0.1:6443", &io, "use --port").contains("already in use"));
    }
}
