//! Work items: which object of which tenant needs syncing, and in which direction.

use std::fmt;
use std::sync::Arc;

/// A synced resource kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// `core/v1` Namespace.
    Namespace,
    /// `core/v1` Pod.
    Pod,
    /// `core/v1` Service.
    Service,
    /// `core/v1` Secret.
    Secret,
    /// `core/v1` ConfigMap.
    ConfigMap,
    /// `core/v1` ServiceAccount.
    ServiceAccount,
    /// `core/v1` Endpoints (selector-less services only).
    Endpoints,
    /// `discovery.k8s.io/v1` EndpointSlice (hand-written ones only).
    EndpointSlice,
    /// `core/v1` PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// `networking.k8s.io/v1` Ingress.
    Ingress,
    /// `core/v1` Event (upward only).
    Event,
    /// `core/v1` Node: virtual nodes in the tenant (upward only).
    Node,
    /// `core/v1` PersistentVolume (upward only).
    PersistentVolume,
    /// `storage.k8s.io/v1` StorageClass (upward only).
    StorageClass,
    /// `scheduling.k8s.io/v1` PriorityClass (upward only).
    PriorityClass,
}

impl Resource {
    /// Every resource, in a stable order.
    pub const ALL: [Resource; 15] = [
        Resource::Namespace,
        Resource::Pod,
        Resource::Service,
        Resource::Secret,
        Resource::ConfigMap,
        Resource::ServiceAccount,
        Resource::Endpoints,
        Resource::EndpointSlice,
        Resource::PersistentVolumeClaim,
        Resource::Ingress,
        Resource::Event,
        Resource::Node,
        Resource::PersistentVolume,
        Resource::StorageClass,
        Resource::PriorityClass,
    ];

    /// Lower-case plural name, as in API paths and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Namespace => "namespaces",
            Resource::Pod => "pods",
            Resource::Service => "services",
            Resource::Secret => "secrets",
            Resource::ConfigMap => "configmaps",
            Resource::ServiceAccount => "serviceaccounts",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlice => "endpointslices",
            Resource::PersistentVolumeClaim => "persistentvolumeclaims",
            Resource::Ingress => "ingresses",
            Resource::Event => "events",
            Resource::Node => "nodes",
            Resource::PersistentVolume => "persistentvolumes",
            Resource::StorageClass => "storageclasses",
            Resource::PriorityClass => "priorityclasses",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(self) -> bool {
        !matches!(
            self,
            Resource::Namespace
                | Resource::Node
                | Resource::PersistentVolume
                | Resource::StorageClass
                | Resource::PriorityClass
        )
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
