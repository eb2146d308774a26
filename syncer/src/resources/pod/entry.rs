//! The pod entry of the resource table: caches, watches and routing.

use std::sync::Arc;

use crds::tenancy;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::quota::{prune_super_pod, super_pod_usage};
use super::{RESOURCE, down, patrol, up};
use crate::cache::packed::{Brief, Packing};
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert::pod::prune_tenant;
use crate::patrol::compare::{Scope, queue_up};
use crate::queue::{Resource, WorkKey};
use crate::quota::track;
use crate::resources::kind::{ChargeSink, SyncFuture, SyncedKind};
use crate::route::{self, Lookup};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// The pod entry of the resource table.
pub struct Pods;

impl SyncedKind for Pods {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, enabled: bool) {
        let tenant_packing = Packing {
            keys: SCAN_KEYS,
            extra: node_of,
        };
        let super_packing = Packing {
            keys: SCAN_KEYS,
            extra: pod_ips,
        };
        tenant.add_packed::<Pod>(RESOURCE, enabled, tenant_packing);
        supers.add_packed::<Pod>(RESOURCE, enabled, super_packing);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        let spec = WatchSpec {
            prune: prune_super_pod,
            ..watch::managed()
        };
        watch::super_watch(ctx, spec, |ctx, c: Change<'_, Pod>| {
            let (p, deleted) = match c.present() {
                Some(p) => (p, false),
                None => (c.object(), true),
            };
            let usage = (!deleted).then(|| super_pod_usage(p));
            track::charge(ctx, RESOURCE, &p.metadata, usage);
            // A deleted super pod may have to be recreated; any change may be status to copy up.
            watch::deliver(ctx, c, route(&p.metadata, &ctx.tenants), deleted, true);
        });
    }

    fn watch_tenant(&self, ctx: &Arc<Context>, t: &Arc<Tenant>) {
        let spec = WatchSpec {
            prune: prune_tenant,
            ..WatchSpec::default()
        };
        watch::tenant_watch::<Pod>(t, RESOURCE, &ctx.down, spec);
    }

    fn down<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(down::down(ctx, t, key))
    }

    fn up<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(up::up(ctx, t, key))
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        patrol::patrol(ctx, t, scope);
    }

    fn resync_up(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        queue_up::<Pod>(ctx, t, scope, RESOURCE);
    }

    fn policy_sensitive(&self) -> bool {
        true
    }

    fn quota_charges(&self, ctx: &Context, charge: &mut ChargeSink<'_>) {
        for p in ctx.supers.get::<Pod>().list() {
            charge(RESOURCE, &p.metadata, super_pod_usage(&p));
        }
    }
}

/// The labels and annotations the pod scans read (patrol, routing, endpoints): ownership,
/// origin and the ignore label.
const SCAN_KEYS: &[&str] = &[
    tenancy::ANNOTATION_CLUSTER,
    tenancy::ANNOTATION_UID,
    tenancy::ANNOTATION_NAMESPACE,
    tenancy::LABEL_SECRET_NAME,
    tenancy::LABEL_IGNORE_SYNC,
];

/// The scan field of tenant pods: the node they are bound to (virtual-node upkeep reads it).
fn node_of(pod: &Pod) -> Option<String> {
    pod.spec.as_ref()?.node_name.clone()
}

/// The scan field of super pods: their IPs, comma-separated, unless they use the node's
/// network (the endpoints check reads it).
fn pod_ips(pod: &Pod) -> Option<String> {
    if pod.spec.as_ref().and_then(|s| s.host_network) == Some(true) {
        return None;
    }
    let status = pod.status.as_ref()?;
    let listed = status.pod_ips.iter().flatten().map(|i| i.ip.as_str());
    let ips: Vec<&str> = status.pod_ip.as_deref().into_iter().chain(listed).collect();
    (!ips.is_empty()).then(|| ips.join(","))
}

/// The IPs of a super pod kept by its store's scan field.
pub fn ips_of(brief: &Brief) -> impl Iterator<Item = &str> {
    brief
        .extra
        .as_deref()
        .into_iter()
        .flat_map(|s| s.split(','))
}

/// The work item of a super pod: the tenant pod it stands for.
pub fn route(meta: &ObjectMeta, tenants: &impl Lookup) -> Option<WorkKey> {
    route::origin(meta)?.key(tenants, RESOURCE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testutil::{Fake, synced_meta};

    #[test]
    fn super_pods_route_to_the_tenant_pod() {
        let tenants = Fake {
            served: vec!["t1"],
            ..Fake::default()
        };
        let key = route(&synced_meta("t1", "app", "web-0"), &tenants).expect("routed");
        assert_eq!(key.to_string(), "t1/pods/app/web-0");
        assert_eq!(route(&ObjectMeta::default(), &tenants), None);
    }
}
