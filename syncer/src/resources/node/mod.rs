//! Nodes, upward only: a super node a tenant pod is bound to appears in that tenant as a
//! virtual node ([`vnode`]), kept alive by a node Lease and removed when unused ([`loops`]);
//! a few nodes the tenant's placement allows are shown from the start ([`preview`]).
//! The tenants' node watches keep the node index (node → tenants with that virtual node).

pub mod entry;
pub mod loops;
pub mod preview;
pub mod vnode;

use crate::queue::Resource;

/// `core/v1` Node: virtual nodes in the tenant.
pub const RESOURCE: Resource = Resource::cluster_scoped("nodes");
