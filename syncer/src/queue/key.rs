//! Work items: which object of which tenant needs syncing, and in which direction.

use std::fmt;
use std::sync::Arc;

/// A synced resource: its lower-case plural name (as in API paths and metric labels) and
/// whether its objects live in a namespace. Each resource module declares its own; equality is
/// by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resource {
    name: &'static str,
    namespaced: bool,
}

impl Resource {
    /// A namespaced resource named `name`.
    pub const fn namespaced(name: &'static str) -> Self {
        Resource {
            name,
            namespaced: true,
        }
    }

    /// A cluster-scoped resource named `name`.
    pub const fn cluster_scoped(name: &'static str) -> Self {
        Resource {
            name,
            namespaced: false,
        }
    }

    /// Lower-case plural name, as in API paths and metric labels.
    pub fn as_str(self) -> &'static str {
        self.name
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(self) -> bool {
        self.namespaced
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a work item syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Tenant → super: specs.
    Down,
    /// Super → tenant: status, nodes, events, cluster IPs.
    Up,
}

impl Direction {
    /// `down` or `up`, for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Down => "down",
            Direction::Up => "up",
        }
    }
}

/// One deduplicated unit of work: an object of a tenant, named as the tenant sees it
/// (tenant namespace and name; empty namespace for cluster-scoped objects).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkKey {
    /// The tenant's cluster key.
    pub tenant: Arc<str>,
    /// The resource kind.
    pub resource: Resource,
    /// Tenant namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Object name.
    pub name: String,
}

impl WorkKey {
    /// A key for `tenant`'s object `namespace/name` of kind `resource`.
    pub fn new(
        tenant: &Arc<str>,
        resource: Resource,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        WorkKey {
            tenant: Arc::clone(tenant),
            resource,
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for WorkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}/{}", self.tenant, self.resource, self.name)
        } else {
            write!(
                f,
                "{}/{}/{}/{}",
                self.tenant, self.resource, self.namespace, self.name
            )
        }
    }
}
