//! Ingresses (behind `--sync-ingresses`): the spec goes down, the load-balancer status comes
//! back up. The pure conversions are in `convert::ingress`.

use std::sync::Arc;

use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::kind::{SyncFuture, SyncedKind};
use crate::cache::{Change, WatchSpec};
use crate::config::SyncerConfig;
use crate::context::Context;
use crate::convert::{Change as Write, ConvertError, TenantCtx, ingress};
use crate::patrol::compare::{self, Scope};
use crate::queue::{Resource, WorkKey};
use crate::reconcile::down::{self, DownSync};
use crate::reconcile::up::pair;
use crate::reconcile::{SyncResult, Synced, tenant_call};
use crate::route::{self, Lookup};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// `networking.k8s.io/v1` Ingress.
pub const RESOURCE: Resource = Resource::namespaced("ingresses");

/// The ingress entry of the resource table.
pub struct Ingresses;

impl SyncedKind for Ingresses {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn enabled(&self, config: &SyncerConfig) -> bool {
        config.sync_ingresses
    }

    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, enabled: bool) {
        tenant.add::<Ingress>(RESOURCE, enabled);
        supers.add::<Ingress>(RESOURCE, enabled);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        watch::super_watch(ctx, watch::managed(), |ctx, c: Change<'_, Ingress>| {
            watch::deliver(ctx, c, route(c.object(), &ctx.tenants), true, true);
        });
    }

    fn watch_tenant(&self, ctx: &Arc<Context>, t: &Arc<Tenant>) {
        watch::tenant_watch::<Ingress>(t, RESOURCE, &ctx.down, WatchSpec::default());
    }

    fn down<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(down::sync::<Ingress>(ctx, t, key))
    }

    fn up<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(up(ctx, t, key))
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        compare::patrol::<Ingress>(ctx, t, scope);
    }
}

impl DownSync for Ingress {
    const RESOURCE: Resource = RESOURCE;

    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        ingress::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Write<Self> {
        ingress::diff(d, e)
    }
}

/// The work item of a super ingress: the tenant ingress it stands for.
pub fn route(ing: &Ingress, tenants: &impl Lookup) -> Option<WorkKey> {
    route::origin(&ing.metadata)?.key(tenants, RESOURCE)
}

/// Upward sync of one ingress: its load-balancer status.
async fn up(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let super_ns = tenant
        .ctx()
        .super_ns(&key.namespace)
        .map_err(ConvertError::from)?;
    let Some((v, p)) = pair(
        tenant,
        tenant
            .caches
            .get::<Ingress>()
            .get(&key.namespace, &key.name),
        ctx.supers.get::<Ingress>().get(&super_ns, &key.name),
    ) else {
        return Ok(Synced::Unchanged);
    };
    let Some(status) = ingress::status_up(&v, &p) else {
        return Ok(Synced::Unchanged);
    };
    let api: Api<Ingress> = Api::namespaced(tenant.client.clone(), &key.namespace);
    let body = serde_json::json!({"metadata": {"uid": v.metadata.uid}, "status": status});
    tenant_call(
        ctx,
        api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
    )
    .await?;
    Ok(Synced::Updated)
}
