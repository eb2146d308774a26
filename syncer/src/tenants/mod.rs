//! The tenants the syncer serves: the set itself with its secondary indexes ([`TenantSet`]),
//! one tenant ([`tenant`]), and how VirtualClusters become tenants and stop being ones
//! ([`lifecycle`], [`health`]).

pub mod health;
pub mod index;
pub mod lifecycle;
pub mod tenant;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use self::index::{NamespaceIndex, NodeIndex};
use self::tenant::Tenant;
use crate::route::Lookup;

/// Every served tenant by cluster key, plus the indexes routing uses.
#[derive(Default)]
pub struct TenantSet {
    tenants: RwLock<HashMap<Arc<str>, Arc<Tenant>>>,
    /// Super namespace ↔ owning tenant.
    pub namespaces: NamespaceIndex,
    /// Node → tenants with that virtual node.
    pub vnodes: NodeIndex,
}

impl TenantSet {
    /// The tenant with cluster key `key`.
    pub fn get(&self, key: &str) -> Option<Arc<Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Every tenant.
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// How many tenants are served.
    pub fn len(&self) -> usize {
        self.tenants.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no tenant is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a tenant (replacing one with the same key, which is returned).
    pub fn insert(&self, t: Arc<Tenant>) -> Option<Arc<Tenant>> {
        self.tenants
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(Arc::clone(&t.key), t)
    }

    /// Unregisters a tenant and forgets its virtual nodes (its successor's watch finds them
    /// again).
    pub fn remove(&self, key: &str) -> Option<Arc<Tenant>> {
        let gone = self
            .tenants
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.vnodes.remove_tenant(key);
        gone
    }
}

impl Lookup for TenantSet {
    fn served(&self, cluster: &str) -> Option<Arc<str>> {
        self.get(cluster).map(|t| Arc::clone(&t.key))
    }

    fn all_served(&self) -> Vec<Arc<str>> {
        self.tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    fn namespace_owner(&self, super_ns: &str) -> Option<(Arc<str>, Arc<str>)> {
        let owner = self.namespaces.owner(super_ns)?;
        let namespace = owner.namespace?;
        Some((self.served(&owner.tenant)?, namespace))
    }

    fn with_vnode(&self, node: &str) -> Vec<Arc<str>> {
        self.vnodes
            .tenants(node)
            .iter()
            .filter_map(|t| self.served(t))
            .collect()
    }
}
