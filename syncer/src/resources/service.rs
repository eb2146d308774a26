//! Services: the spec goes down (checked against the VirtualCluster's service policy, counted
//! by the tenant's quota), the super cluster IP, node ports and load-balancer status come back
//! up. The pure conversions are in `convert::service`.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::kind::{ChargeSink, SyncFuture, SyncedKind};
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert::{Change as Write, ConvertError, TenantCtx, service};
use crate::patrol::compare::{self, Scope, queue_up};
use crate::queue::{Resource, WorkKey};
use crate::quota::{Amounts, track, usage};
use crate::reconcile::down::{self, DownSync};
use crate::reconcile::up::pair;
use crate::reconcile::{SyncResult, Synced, tenant_call};
use crate::route::{self, Lookup};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// `core/v1` Service.
pub const RESOURCE: Resource = Resource::namespaced("services");

/// The service entry of the resource table.
pub struct Services;

impl SyncedKind for Services {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, enabled: bool) {
        tenant.add::<Service>(RESOURCE, enabled);
        supers.add::<Service>(RESOURCE, enabled);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        watch::super_watch(ctx, watch::managed(), |ctx, c: Change<'_, Service>| {
            let (s, usage) = match c {
                Change::Applied(s) | Change::Listed(s) => (s, Some(usage::service(s))),
                Change::Deleted(s) => (s, None),
            };
            track::charge(ctx, RESOURCE, &s.metadata, usage);
            watch::deliver(ctx, c, route(s, &ctx.tenants), true, true);
        });
    }

    fn watch_tenant(&self, ctx: &Arc<Context>, t: &Arc<Tenant>) {
        watch::tenant_watch::<Service>(t, RESOURCE, &ctx.down, WatchSpec::default());
    }

    fn down<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(down::sync::<Service>(ctx, t, key))
    }

    fn up<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(up(ctx, t, key))
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        compare::patrol::<Service>(ctx, t, scope);
    }

    fn resync_up(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        queue_up::<Service>(ctx, t, scope, RESOURCE);
    }

    fn policy_sensitive(&self) -> bool {
        true
    }

    fn quota_charges(&self, ctx: &Context, charge: &mut ChargeSink<'_>) {
        for s in ctx.supers.get::<Service>().list() {
            charge(RESOURCE, &s.metadata, usage::service(&s));
        }
    }
}

impl DownSync for Service {
    const RESOURCE: Resource = RESOURCE;
    const COUNTED: bool = true;

    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        service::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Write<Self> {
        service::diff(d, e)
    }
    fn usage(desired: &Self) -> Result<Amounts, ConvertError> {
        Ok(usage::service(desired))
    }
}

/// The work item of a super service: the tenant service it stands for.
pub fn route(s: &Service, tenants: &impl Lookup) -> Option<WorkKey> {
    route::origin(&s.metadata)?.key(tenants, RESOURCE)
}

/// Upward sync of one service: node ports, cluster IP and load-balancer status.
async fn up(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let tctx = tenant.ctx();
    let super_ns = tctx.super_ns(&key.namespace).map_err(ConvertError::from)?;
    let Some((v, p)) = pair(
        tenant,
        tenant
            .caches
            .get::<Service>()
            .get(&key.namespace, &key.name),
        ctx.supers.get::<Service>().get(&super_ns, &key.name),
    ) else {
        return Ok(Synced::Unchanged);
    };
    let api: Api<Service> = Api::namespaced(tenant.client.clone(), &key.namespace);
    // The super cluster owns the node-port space: the tenant sees the ports really allocated.
    let node_ports = service::node_ports_up(&v, &p);
    if let Some(ports) = &node_ports {
        let body = serde_json::json!({
            "metadata": {"uid": v.metadata.uid},
            "spec": {"ports": ports},
        });
        tenant_call(
            ctx,
            api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
        )
        .await?;
    }
    let Some((out, lb_changed)) = service::up(&tctx, &v, &p) else {
        return Ok(if node_ports.is_some() {
            Synced::Updated
        } else {
            Synced::Unchanged
        });
    };
    let body = serde_json::json!({
        "metadata": {"uid": v.metadata.uid, "annotations": out.metadata.annotations},
    });
    tenant_call(
        ctx,
        api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
    )
    .await?;
    if lb_changed {
        let body = serde_json::json!({
            "metadata": {"uid": v.metadata.uid},
            "status": out.status,
        });
        tenant_call(
            ctx,
            api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
        )
        .await?;
    }
    // Pods created from now on see the service's super IP in their env.
    Ok(Synced::Updated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testutil::{Fake, synced_meta};

    #[test]
    fn super_services_route_to_the_tenant_service() {
        let tenants = Fake {
            served: vec!["t1"],
            ..Fake::default()
        };
        let s = Service {
            metadata: synced_meta("t1", "app", "web"),
            ..Service::default()
        };
        let key = route(&s, &tenants).expect("routed");
        assert_eq!(key.to_string(), "t1/services/app/web");
    }
}
