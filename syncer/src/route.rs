//! Routing: which tenant work item a super-cluster change concerns. Pure functions of the super
//! object and a [`Lookup`] of the served tenants, so every route can be tested without a
//! server; each resource module has the routes of its kind, these are the shared pieces.
//! Reverse mapping never parses names: it reads the contract's annotations.

use std::sync::Arc;

use crds::tenancy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::queue::{Resource, WorkKey};

/// What routing needs to know about the served tenants (answered from indexes, never by a scan
/// over every tenant).
pub trait Lookup {
    /// The key of the served tenant with cluster key `cluster`.
    fn served(&self, cluster: &str) -> Option<Arc<str>>;
    /// Every served tenant.
    fn all_served(&self) -> Vec<Arc<str>>;
    /// The served tenant and the tenant namespace a (non-root) super namespace stands for.
    fn namespace_owner(&self, super_ns: &str) -> Option<(Arc<str>, Arc<str>)>;
    /// The served tenants that have virtual node `node`.
    fn with_vnode(&self, node: &str) -> Vec<Arc<str>>;
}

/// A tenant object named by its tenant's cluster key, borrowed from a super object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// Cluster key of the owning tenant.
    pub cluster: &'a str,
    /// Tenant namespace (empty for cluster-scoped objects).
    pub namespace: &'a str,
    /// Tenant object name.
    pub name: &'a str,
}

impl<'a> Target<'a> {
    /// The same target under another name.
    pub fn named(self, name: &'a str) -> Self {
        Target { name, ..self }
    }

    /// The work key of this target, when its tenant is served.
    pub fn key(self, tenants: &impl Lookup, resource: Resource) -> Option<WorkKey> {
        let tenant = tenants.served(self.cluster)?;
        Some(WorkKey::new(&tenant, resource, self.namespace, self.name))
    }
}

/// The tenant object a synced super object stands for: cluster key and tenant namespace from
/// its annotations, the same name.
pub fn origin(meta: &ObjectMeta) -> Option<Target<'_>> {
    let ann = meta.annotations.as_ref()?;
    let cluster = ann
        .get(tenancy::ANNOTATION_CLUSTER)
        .filter(|c| !c.is_empty())?;
    let namespace = ann.get(tenancy::ANNOTATION_NAMESPACE)?;
    Some(Target {
        cluster,
        namespace,
        name: meta.name.as_deref().unwrap_or_default(),
    })
}

/// Whether a super namespace is a tenant's root namespace (its control plane, not synced).
pub fn is_root_namespace(meta: &ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(tenancy::ANNOTATION_VC_ROOT_NS))
}

/// A cluster-scoped super object shown to every served tenant (public objects).
pub fn broadcast(meta: &ObjectMeta, tenants: &impl Lookup, resource: Resource) -> Vec<WorkKey> {
    let name = meta.name.as_deref().unwrap_or_default();
    tenants
        .all_served()
        .iter()
        .map(|t| WorkKey::new(t, resource, "", name))
        .collect()
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A fake [`Lookup`] for routing tests.

    use std::collections::BTreeMap;

    use super::*;

    /// Served tenants, super namespaces and virtual nodes, written by hand.
    #[derive(Default)]
    pub struct Fake {
        /// Served cluster keys.
        pub served: Vec<&'static str>,
        /// Super namespace → (cluster key, tenant namespace).
        pub namespaces: BTreeMap<&'static str, (&'static str, &'static str)>,
        /// Node → cluster keys with that virtual node.
        pub vnodes: BTreeMap<&'static str, Vec<&'static str>>,
    }

    impl Lookup for Fake {
        fn served(&self, cluster: &str) -> Option<Arc<str>> {
            self.served.contains(&cluster).then(|| Arc::from(cluster))
        }
        fn all_served(&self) -> Vec<Arc<str>> {
            self.served.iter().map(|c| Arc::from(*c)).collect()
        }
        fn namespace_owner(&self, super_ns: &str) -> Option<(Arc<str>, Arc<str>)> {
            let (c, ns) = self.namespaces.get(super_ns)?;
            self.served(c).map(|t| (t, Arc::from(*ns)))
        }
        fn with_vnode(&self, node: &str) -> Vec<Arc<str>> {
            self.vnodes
                .get(node)
                .into_iter()
                .flatten()
                .filter_map(|c| self.served(c))
                .collect()
        }
    }

    /// Metadata of a super object with the contract's annotations.
    pub fn synced_meta(cluster: &str, tenant_ns: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            annotations: Some(BTreeMap::from([
                (tenancy::ANNOTATION_CLUSTER.to_string(), cluster.to_string()),
                (
                    tenancy::ANNOTATION_NAMESPACE.to_string(),
                    tenant_ns.to_string(),
                ),
            ])),
            ..ObjectMeta::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{Fake, synced_meta};
    use super::*;

    const SERVICES: Resource = Resource::namespaced("services");

    #[test]
    fn origin_reads_the_annotations_and_needs_a_served_tenant() {
        let tenants = Fake {
            served: vec!["t1"],
            ..Fake::default()
        };
        let meta = synced_meta("t1", "default", "web");
        let target = origin(&meta).expect("synced");
        assert_eq!(
            target,
            Target {
                cluster: "t1",
                namespace: "default",
                name: "web"
            }
        );
        let key = target.key(&tenants, SERVICES).expect("served");
        assert_eq!(key.to_string(), "t1/services/default/web");
        let other = synced_meta("t2", "default", "web");
        assert_eq!(origin(&other).and_then(|t| t.key(&tenants, SERVICES)), None);
        assert_eq!(origin(&ObjectMeta::default()), None);
        assert_eq!(origin(&synced_meta("", "default", "web")), None);
    }

    #[test]
    fn broadcast_reaches_every_served_tenant() {
        let tenants = Fake {
            served: vec!["a", "b"],
            ..Fake::default()
        };
        let meta = ObjectMeta {
            name: Some("fast".into()),
            ..ObjectMeta::default()
        };
        let sc = Resource::cluster_scoped("storageclasses");
        let keys: Vec<String> = broadcast(&meta, &tenants, sc)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(keys, vec!["a/storageclasses/fast", "b/storageclasses/fast"]);
    }
}
