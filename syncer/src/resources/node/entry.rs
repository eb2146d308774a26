//! The node entry of the resource table: caches, watches and routing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crds::tenancy;
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;

use super::{RESOURCE, vnode};
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert;
use crate::patrol::compare::Scope;
use crate::queue::{Resource, WorkKey};
use crate::resources::kind::{SyncFuture, SyncedKind};
use crate::route::Lookup;
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// The node entry of the resource table.
pub struct Nodes;

impl SyncedKind for Nodes {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, enabled: bool) {
        tenant.add::<Node>(RESOURCE, enabled);
        supers.add::<Node>(RESOURCE, enabled);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        // Super nodes heartbeat their status: only an event that changes what virtual nodes
        // mirror is fanned out to every tenant showing the node (the node patrol still checks
        // every virtual node each scan).
        let mirrored: Mutex<HashMap<String, u64>> = Mutex::default();
        watch::super_watch(
            ctx,
            WatchSpec::default(),
            move |ctx, c: Change<'_, Node>| {
                let node = c.object();
                let name = node.name_any();
                let unchanged = {
                    let mut seen = mirrored.lock().unwrap_or_else(|e| e.into_inner());
                    if matches!(c, Change::Deleted(_)) {
                        seen.remove(&name);
                        false
                    } else {
                        let digest = convert::node::mirrored_digest(node);
                        let before = seen.insert(name, digest);
                        matches!(c, Change::Applied(_)) && before == Some(digest)
                    }
                };
                if unchanged {
                    return;
                }
                for key in route(node, &ctx.tenants) {
                    watch::enqueue(&ctx.up, key, c.lane());
                }
            },
        );
    }

    fn watch_tenant(&self, ctx: &Arc<Context>, t: &Arc<Tenant>) {
        let spec = WatchSpec {
            labels: Some(format!("{}=true", tenancy::LABEL_VIRTUAL_NODE)),
            ..WatchSpec::default()
        };
        let weak = Arc::downgrade(ctx);
        let tenant = Arc::clone(&t.key);
        watch::tenant_watch_with(t, spec, move |c: Change<'_, Node>| {
            let Some(ctx) = weak.upgrade() else {
                return;
            };
            let node = c.object();
            let name = node.name_any();
            let ignored = convert::ignored(&node.metadata);
            match c.present() {
                Some(_) if !ignored => ctx.tenants.vnodes.add(&name, &tenant),
                _ => ctx.tenants.vnodes.remove(&name, &tenant),
            }
            if !ignored {
                let key = WorkKey::new(&tenant, RESOURCE, "", name);
                watch::enqueue(&ctx.up, key, c.lane());
            }
        });
    }

    fn up<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(vnode::reconcile(ctx, t, &key.name))
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, _scope: &Scope) {
        for v in t.caches.get::<Node>().list() {
            ctx.up.add(WorkKey::new(&t.key, RESOURCE, "", v.name_any()));
        }
    }
}

/// The work items of a super node: one per tenant that shows it as a virtual node.
pub fn route(node: &Node, tenants: &impl Lookup) -> Vec<WorkKey> {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    tenants
        .with_vnode(name)
        .iter()
        .map(|t| WorkKey::new(t, RESOURCE, "", name))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::route::testutil::Fake;

    #[test]
    fn super_nodes_route_to_the_tenants_that_show_them() {
        let tenants = Fake {
            served: vec!["a", "b"],
            vnodes: BTreeMap::from([("n1", vec!["a", "gone"])]),
            ..Fake::default()
        };
        let node = |name: &str| Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..Node::default()
        };
        let keys: Vec<String> = route(&node("n1"), &tenants)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(keys, vec!["a/nodes/n1"]);
        assert!(route(&node("n2"), &tenants).is_empty());
    }
}
