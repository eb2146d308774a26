//! One module per synced resource, each holding everything about its kind: its caches and
//! watches, how a super-cluster change routes to a tenant work key, its reconcilers in each
//! direction, its patrol check, its events and quota charges ([`kind::SyncedKind`]); the pure
//! conversions stay in `convert`.
//!
//! [`ALL`] is the one list of them. Adding a synced resource = a new module here and a line in
//! that table; the generic parts (tenants, watches, workers, patrol, quota) only walk the table.

pub mod configmap;
pub mod endpoints;
pub mod endpointslice;
pub mod event;
pub mod ingress;
pub mod kind;
pub mod namespace;
pub mod node;
pub mod pod;
pub mod priorityclass;
pub mod pv;
pub mod pvc;
pub mod secret;
pub mod service;
pub mod serviceaccount;
pub mod storageclass;

use self::kind::SyncedKind;
use crate::config::SyncerConfig;
use crate::queue::Resource;
use crate::stores::Stores;

/// Every synced resource, in the order watches start and patrols run (pods early: the lookup
/// of a work item's entry walks this list).
pub static ALL: &[&dyn SyncedKind] = &[
    &namespace::Namespaces,
    &pod::entry::Pods,
    &service::Services,
    &secret::Secrets,
    &configmap::ConfigMaps,
    &serviceaccount::entry::ServiceAccounts,
    &endpoints::EndpointsKind,
    &endpointslice::EndpointSlices,
    &pvc::Claims,
    &ingress::Ingresses,
    &event::Events,
    &node::entry::Nodes,
    &pv::Volumes,
    &storageclass::StorageClasses,
    &priorityclass::PriorityClasses,
];

/// The table entry of `resource`.
pub fn get(resource: Resource) -> Option<&'static dyn SyncedKind> {
    ALL.iter().copied().find(|k| k.resource() == resource)
}

/// The entries synced under `config`.
pub fn enabled(config: &SyncerConfig) -> impl Iterator<Item = &'static dyn SyncedKind> + '_ {
    ALL.iter().copied().filter(|k| k.enabled(config))
}

/// Empty caches for one tenant and for the super cluster: every entry's stores.
pub fn stores(config: &SyncerConfig) -> (Stores, Stores) {
    let (mut tenant, mut supers) = (Stores::new(), Stores::new());
    for k in ALL {
        k.add_stores(&mut tenant, &mut supers, k.enabled(config));
    }
    (tenant, supers)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_resource_is_listed_once_and_found() {
        let names: BTreeSet<&str> = ALL.iter().map(|k| k.resource().as_str()).collect();
        assert_eq!(names.len(), ALL.len());
        for k in ALL {
            let found = get(k.resource()).map(|f| f.resource());
            assert_eq!(found, Some(k.resource()));
        }
        assert!(get(Resource::namespaced("widgets")).is_none());
    }

    #[test]
    fn ingresses_only_when_asked_for() {
        let mut config = SyncerConfig::default();
        let on = |c: &SyncerConfig| enabled(c).any(|k| k.resource() == ingress::RESOURCE);
        assert!(!on(&config));
        config.sync_ingresses = true;
        assert!(on(&config));
        // Its stores exist either way, so code that reads them needs no special case.
        let (tenant, supers) = stores(&SyncerConfig::default());
        assert!(tenant.of(ingress::RESOURCE).is_some());
        assert!(supers.of(ingress::RESOURCE).is_some());
    }
}
