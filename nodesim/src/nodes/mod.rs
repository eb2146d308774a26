//! Node registration and heartbeats: the Node object (capacity, labels, taints, addresses,
//! daemon endpoint, node info) planned from the pools in `setup`; in `lifecycle`, the
//! `kube-node-lease` Lease renewed on Virtual Kubelet's cadence, and status updates when
//! conditions change or the status interval passes; the not-ready taint in `readiness`.

mod error;
mod lifecycle;
mod readiness;
mod setup;

pub use error::NodeError;
pub use lifecycle::{
    LEASE_NAMESPACE, delete_node, ensure_lease_namespace, register, renew_lease,
    reregistration_patch, run_node, update_status,
};
pub use readiness::{TAINT_NOT_READY, with_readiness_taint};
pub use setup::{NodeSetup, plan_nodes};

#[cfg(test)]
mod tests;
