//! Secondary indexes over the super cluster, so that routing and the loops find a tenant's
//! objects in O(1) instead of scanning every tenant or every super namespace: super namespace →
//! owner (and owner → its super namespaces), node → tenants that show it as a virtual node.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crds::tenancy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::route;

/// Who a super namespace belongs to, from its annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceOwner {
    /// Cluster key of the tenant.
    pub tenant: Arc<str>,
    /// The tenant namespace it stands for (`None` for the root namespace or when unrecorded).
    pub namespace: Option<Arc<str>>,
}

/// The owner a super namespace's annotations record; `None` when it is nobody's.
pub fn owner_of(meta: &ObjectMeta) -> Option<NamespaceOwner> {
    let ann = meta.annotations.as_ref()?;
    let tenant = ann.get(tenancy::ANNOTATION_CLUSTER)?;
    let namespace = match route::is_root_namespace(meta) {
        true => None,
        false => ann
            .get(tenancy::ANNOTATION_NAMESPACE)
            .map(|n| Arc::from(n.as_str())),
    };
    Some(NamespaceOwner {
        tenant: Arc::from(tenant.as_str()),
        namespace,
    })
}

#[derive(Default)]
struct Namespaces {
    owners: HashMap<String, NamespaceOwner>,
    by_tenant: HashMap<Arc<str>, BTreeSet<String>>,
}

impl Namespaces {
    fn forget(&mut self, name: &str) {
        let Some(old) = self.owners.remove(name) else {
            return;
        };
        if let Some(set) = self.by_tenant.get_mut(&old.tenant) {
            set.remove(name);
            if set.is_empty() {
                self.by_tenant.remove(&old.tenant);
            }
        }
    }
}

/// Super namespace ↔ owning tenant, kept by the super namespace watch.
#[derive(Default)]
pub struct NamespaceIndex(RwLock<Namespaces>);

impl NamespaceIndex {
    fn read(&self) -> RwLockReadGuard<'_, Namespaces> {
        // Every update finishes before the guard drops: a poisoned index is still consistent.
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Namespaces> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Records (or, when it names no owner, forgets) super namespace `name`.
    pub fn apply(&self, name: &str, meta: &ObjectMeta) {
        let owner = owner_of(meta);
        let mut ix = self.write();
        if ix.owners.get(name) == owner.as_ref() {
            return;
        }
        ix.forget(name);
        if let Some(owner) = owner {
            ix.by_tenant
                .entry(Arc::clone(&owner.tenant))
                .or_default()
                .insert(name.to_string());
            ix.owners.insert(name.to_string(), owner);
        }
    }

    /// Forgets super namespace `name`.
    pub fn remove(&self, name: &str) {
        self.write().forget(name);
    }

    /// The owner of super namespace `name`.
    pub fn owner(&self, name: &str) -> Option<NamespaceOwner> {
        self.read().owners.get(name).cloned()
    }

    /// Every super namespace tenant `tenant` owns (its root namespace included).
    pub fn of_tenant(&self, tenant: &str) -> Vec<String> {
        self.read()
            .by_tenant
            .get(tenant)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Node → tenants that have it as a virtual node, kept by the tenants' node watches.
#[derive(Default)]
pub struct NodeIndex(RwLock<HashMap<String, BTreeSet<Arc<str>>>>);

impl NodeIndex {
    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, BTreeSet<Arc<str>>>> {
        // Entries are inserted and removed whole: a poisoned index is still consistent.
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `tenant` has virtual node `node`.
    pub fn add(&self, node: &str, tenant: &Arc<str>) {
        let mut ix = self.write();
        if ix.get(node).is_some_and(|s| s.contains(tenant)) {
            return;
        }
        ix.entry(node.to_string())
            .or_default()
            .insert(Arc::clone(tenant));
    }

    /// Records that `tenant` no longer has virtual node `node`.
    pub fn remove(&self, node: &str, tenant: &str) {
        let mut ix = self.write();
        if let Some(set) = ix.get_mut(node) {
            set.remove(tenant);
            if set.is_empty() {
                ix.remove(node);
            }
        }
    }

    /// Forgets every virtual node of `tenant` (it is no longer served).
    pub fn remove_tenant(&self, tenant: &str) {
        self.write().retain(|_, set| {
            set.remove(tenant);
            !set.is_empty()
        });
    }

    /// The tenants that have virtual node `node`.
    pub fn tenants(&self, node: &str) -> Vec<Arc<str>> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(node)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn meta(cluster: &str, ns: Option<&str>, root: bool) -> ObjectMeta {
        let mut ann = BTreeMap::from([(tenancy::ANNOTATION_CLUSTER.to_string(), cluster.into())]);
        if let Some(ns) = ns {
            ann.insert(tenancy::ANNOTATION_NAMESPACE.into(), ns.into());
        }
        if root {
            ann.insert(tenancy::ANNOTATION_VC_ROOT_NS.into(), "true".into());
        }
        ObjectMeta {
            annotations: Some(ann),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn namespaces_map_both_ways_and_follow_changes() {
        let ix = NamespaceIndex::default();
        ix.apply("t1-default", &meta("t1", Some("default"), false));
        ix.apply("t1", &meta("t1", None, true));
        ix.apply("t2-app", &meta("t2", Some("app"), false));
        ix.apply("plain", &ObjectMeta::default());
        let owner = ix.owner("t1-default").expect("owned");
        assert_eq!(&*owner.tenant, "t1");
        assert_eq!(owner.namespace.as_deref(), Some("default"));
        assert_eq!(ix.owner("t1").and_then(|o| o.namespace), None);
        assert_eq!(ix.owner("plain"), None);
        assert_eq!(ix.of_tenant("t1"), vec!["t1", "t1-default"]);
        // An owner change moves the namespace; a removal forgets it.
        ix.apply("t2-app", &meta("t1", Some("app"), false));
        assert!(ix.of_tenant("t2").is_empty());
        assert_eq!(ix.of_tenant("t1").len(), 3);
        ix.remove("t2-app");
        ix.remove("t1-default");
        assert_eq!(ix.of_tenant("t1"), vec!["t1"]);
        assert_eq!(ix.owner("t1-default"), None);
    }

    #[test]
    fn nodes_know_their_tenants_until_removed() {
        let ix = NodeIndex::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        ix.add("n1", &a);
        ix.add("n1", &b);
        ix.add("n2", &a);
        assert_eq!(ix.tenants("n1"), vec![Arc::clone(&a), Arc::clone(&b)]);
        ix.remove("n1", "b");
        assert_eq!(ix.tenants("n1"), vec![Arc::clone(&a)]);
        ix.remove_tenant("a");
        assert!(ix.tenants("n1").is_empty());
        assert!(ix.tenants("n2").is_empty());
    }
}
