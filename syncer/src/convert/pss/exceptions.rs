//! The parts of the checks a VirtualCluster can waive for its tenant pods.

use crds::PodPolicy;

/// Parts of the checks a VirtualCluster waives for its tenant pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exceptions {
    /// Waives `hostNetwork=true` in `hostNamespaces`.
    pub host_network: bool,
    /// Waives `hostPID=true` in `hostNamespaces`.
    pub host_pid: bool,
    /// Waives `hostIPC=true` in `hostNamespaces`.
    pub host_ipc: bool,
    /// Waives `hostPathVolumes`, and hostPath volumes in `restrictedVolumes`.
    pub host_path: bool,
    /// Waives `privileged`.
    pub privileged: bool,
    /// Capabilities waived in the `add` part of `capabilities_baseline` and
    /// `capabilities_restricted` (exact names, as upstream compares them).
    pub capabilities: Vec<String>,
}

impl Exceptions {
    /// The exceptions a VirtualCluster's pod policy grants.
    pub fn from_policy(policy: &PodPolicy) -> Self {
        Exceptions {
            host_network: policy.allow_host_network,
            host_pid: policy.allow_host_pid,
            host_ipc: policy.allow_host_ipc,
            host_path: policy.allow_host_path,
            privileged: policy.allow_privileged,
            capabilities: policy.allowed_capabilities.clone(),
        }
    }

    /// Whether nothing is waived.
    pub fn is_empty(&self) -> bool {
        *self == Exceptions::default()
    }

    /// Both sets of exceptions together.
    pub fn union(&self, other: &Exceptions) -> Exceptions {
        let mut capabilities = self.capabilities.clone();
        for c in &other.capabilities {
            if !capabilities.contains(c) {
                capabilities.push(c.clone());
            }
        }
        Exceptions {
            host_network: self.host_network || other.host_network,
            host_pid: self.host_pid || other.host_pid,
            host_ipc: self.host_ipc || other.host_ipc,
            host_path: self.host_path || other.host_path,
            privileged: self.privileged || other.privileged,
            capabilities,
        }
    }

    /// Whether the added capability `c` is waived.
    pub(super) fn allows_capability(&self, c: &str) -> bool {
        self.capabilities.iter().any(|a| a == c)
    }
}
