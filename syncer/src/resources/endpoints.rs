//! Hand-written `Endpoints` (of selector-less services, and the tenant API server's own
//! `default/kubernetes`): copied down only when every address is one of the tenant's own super
//! pods or lies in the VirtualCluster's allowed endpoint CIDRs. The address rules are in
//! `convert::endpoints`.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::kind::{SyncFuture, SyncedKind};
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert::{Change as Write, ConvertError, TenantCtx, endpoints, owned_by, service};
use crate::patrol::compare::{self, Scope};
use crate::queue::{Resource, WorkKey};
use crate::reconcile::down::{self, DownSync};
use crate::resources::pod::entry::ips_of;
use crate::route::{self, Lookup};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// `core/v1` Endpoints (selector-less services only).
pub const RESOURCE: Resource = Resource::namespaced("endpoints");

/// The endpoints entry of the resource table.
pub struct EndpointsKind;

impl SyncedKind for EndpointsKind {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, enabled: bool) {
        tenant.add::<Endpoints>(RESOURCE, enabled);
        supers.add::<Endpoints>(RESOURCE, enabled);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        watch::super_watch(ctx, watch::managed(), |ctx, c: Change<'_, Endpoints>| {
            watch::deliver(
                ctx,
                c,
                route(&c.object().metadata, &ctx.tenants),
                true,
                false,
            );
        });
    }

    fn watch_tenant(&self, ctx: &Arc<Context>, t: &Arc<Tenant>) {
        watch::tenant_watch::<Endpoints>(t, RESOURCE, &ctx.down, WatchSpec::default());
    }

    fn down<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(down::sync::<Endpoints>(ctx, t, key))
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        compare::patrol::<Endpoints>(ctx, t, scope);
    }

    fn policy_sensitive(&self) -> bool {
        true
    }
}

impl DownSync for Endpoints {
    const RESOURCE: Resource = RESOURCE;

    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        endpoints::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Write<Self> {
        endpoints::diff(d, e)
    }
    fn wanted(t: &Tenant, v: &Self) -> bool {
        // Only selector-less services: the super endpoints controller serves the others.
        let ns = v.namespace().unwrap_or_default();
        if ns == "default" && v.name_any() == "kubernetes" {
            return api_server_endpoints(t, v);
        }
        t.caches
            .get::<Service>()
            .get(&ns, &v.name_any())
            .is_some_and(|s| !service::has_selector(&s))
    }
    fn admit(ctx: &Context, t: &Tenant, v: &Self) -> Result<(), ConvertError> {
        let addresses = endpoints::endpoints_addresses(v);
        check_endpoint_addresses(ctx, t, &addresses)
    }
}

/// The work item of super endpoints: the tenant endpoints they stand for.
pub fn route(meta: &ObjectMeta, tenants: &impl Lookup) -> Option<WorkKey> {
    route::origin(meta)?.key(tenants, RESOURCE)
}

/// Whether the tenant's `default/kubernetes` endpoints name its API server at the address the
/// syncer knows and super pods can reach; only then do they get a super copy (pods reach the
/// tenant API server through their host aliases and env either way).
fn api_server_endpoints(t: &Tenant, v: &Endpoints) -> bool {
    let Some(api) = t.api_endpoint() else {
        return false;
    };
    let Ok(ip) = api.ip.parse::<IpAddr>() else {
        return false;
    };
    let addresses = endpoints::endpoints_addresses(v);
    crate::convert::address::special_range(ip).is_none()
        && !addresses.is_empty()
        && addresses.iter().all(|(_, a)| a.parse::<IpAddr>() == Ok(ip))
}

/// Refuses addresses that are neither the tenant's own pods (or its API server) nor in the
/// VirtualCluster's allowed endpoint CIDRs.
pub fn check_endpoint_addresses(
    ctx: &Context,
    t: &Tenant,
    addresses: &[(String, String)],
) -> Result<(), ConvertError> {
    let api_ip = t.api_endpoint().and_then(|a| a.ip.parse::<IpAddr>().ok());
    let own = own_pod_ips(ctx, t);
    let is_own = |ip: IpAddr| own.contains(&ip) || Some(ip) == api_ip;
    endpoints::check_addresses(&t.ctx(), addresses, &is_own)
}

/// The IPs of the tenant's super pods (host-network pods excluded: their IP is the node's),
/// read from the super pod store's scan field.
fn own_pod_ips(ctx: &Context, t: &Tenant) -> HashSet<IpAddr> {
    let tctx = t.ctx();
    let mut ips = HashSet::new();
    let super_pods = ctx.supers.get::<Pod>();
    for ns in t.caches.get::<Namespace>().list() {
        let Ok(super_ns) = tctx.super_ns(&ns.name_any()) else {
            continue;
        };
        for p in super_pods.briefs_in(&super_ns) {
            if owned_by(&p.meta, &t.key) {
                ips.extend(ips_of(&p).filter_map(|ip| ip.parse::<IpAddr>().ok()));
            }
        }
    }
    ips
}
