//! Pods, both ways: the super pod for a tenant pod (created once the tenant's quota admits it,
//! then only its mutable fields follow), and back up the binding to a virtual node, the status
//! and super-side deletion. The pure conversions are in `convert::pod`.

pub mod down;
pub mod entry;
pub mod patrol;
pub mod quota;
pub mod up;
pub mod write;

use crate::queue::Resource;

/// `core/v1` Pod.
pub const RESOURCE: Resource = Resource::namespaced("pods");
