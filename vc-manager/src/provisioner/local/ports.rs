//! The ports of a local control plane, kept in `ports.json` across restarts so that
//! kubeconfigs stay valid.

use serde::{Deserialize, Serialize};

/// The ports of a local control plane, persisted in `ports.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// API server (HTTPS).
    pub apiserver: u16,
    /// etcd clients.
    pub etcd_client: u16,
    /// etcd peers.
    pub etcd_peer: u16,
    /// controller-manager's secure port.
    pub controller_manager: u16,
}
