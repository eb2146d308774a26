//! PersistentVolumeClaims: the spec goes down (counted by the tenant's quota), the binding and
//! status come back up, with the bound volume shown to the tenant. The pure conversions are in
//! `convert::pvc`.

use std::sync::Arc;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::kind::{ChargeSink, SyncFuture, SyncedKind};
use super::pv;
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert::{self, Change as Write, ConvertError, TenantCtx};
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

/// `core/v1` PersistentVolumeClaim.
pub const RESOURCE: Resource = Resource::namespaced("persistentvolumeclaims");

/// The claim entry of the resource table.
pub struct Claims;

impl SyncedKind for Claims {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, enabled: bool) {
        tenant.add::<PersistentVolumeClaim>(RESOURCE, enabled);
        supers.add::<PersistentVolumeClaim>(RESOURCE, enabled);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        let route_claim = |ctx: &Context, c: Change<'_, PersistentVolumeClaim>| {
            let (p, usage) = match c {
                Change::Applied(p) | Change::Listed(p) => (p, Some(super_claim_usage(p))),
                Change::Deleted(p) => (p, None),
            };
            track::charge(ctx, RESOURCE, &p.metadata, usage);
            watch::deliver(ctx, c, route(p, &ctx.tenants), true, true);
        };
        watch::super_watch(ctx, watch::managed(), route_claim);
    }

    fn watch_tenant(&self, ctx: &Arc<Context>, t: &Arc<Tenant>) {
        let spec = WatchSpec::default();
        watch::tenant_watch::<PersistentVolumeClaim>(t, RESOURCE, &ctx.down, spec);
    }

    fn down<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(down::sync::<PersistentVolumeClaim>(ctx, t, key))
    }

    fn up<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(up(ctx, t, key))
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        compare::patrol::<PersistentVolumeClaim>(ctx, t, scope);
    }

    fn resync_up(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        queue_up::<PersistentVolumeClaim>(ctx, t, scope, RESOURCE);
    }

    fn quota_charges(&self, ctx: &Context, charge: &mut ChargeSink<'_>) {
        for c in ctx.supers.get::<PersistentVolumeClaim>().list() {
            if let Ok(a) = usage::claim(&c) {
                charge(RESOURCE, &c.metadata, a);
            }
        }
    }
}

impl DownSync for PersistentVolumeClaim {
    const RESOURCE: Resource = RESOURCE;
    const COUNTED: bool = true;

    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        convert::pvc::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Write<Self> {
        convert::pvc::diff(d, e)
    }
    fn usage(desired: &Self) -> Result<Amounts, ConvertError> {
        usage::claim(desired).map_err(|e| ConvertError::Invalid(e.to_string()))
    }
}

/// What a super claim uses; one whose size cannot be read still counts as a claim.
fn super_claim_usage(p: &PersistentVolumeClaim) -> Amounts {
    usage::claim(p)
        .unwrap_or_else(|_| Amounts::from([("persistentvolumeclaims".to_string(), usage::ONE)]))
}

/// The work item of a super claim: the tenant claim it stands for.
pub fn route(p: &PersistentVolumeClaim, tenants: &impl Lookup) -> Option<WorkKey> {
    route::origin(&p.metadata)?.key(tenants, RESOURCE)
}

/// Upward sync of one claim: the bound volume (shown to the tenant first), then the status.
async fn up(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let super_ns = tenant
        .ctx()
        .super_ns(&key.namespace)
        .map_err(ConvertError::from)?;
    let Some((v, p)) = pair(
        tenant,
        tenant
            .caches
            .get::<PersistentVolumeClaim>()
            .get(&key.namespace, &key.name),
        ctx.supers
            .get::<PersistentVolumeClaim>()
            .get(&super_ns, &key.name),
    ) else {
        return Ok(Synced::Unchanged);
    };
    let Some((out, spec_changed)) = convert::pvc::up(&v, &p) else {
        return Ok(Synced::Unchanged);
    };
    let api: Api<PersistentVolumeClaim> = Api::namespaced(tenant.client.clone(), &key.namespace);
    if spec_changed {
        if let Some(pv) = out.spec.as_ref().and_then(|s| s.volume_name.as_deref()) {
            // The tenant must see the volume before its claim names it.
            pv::up(ctx, tenant, pv).await?;
        }
        let body = serde_json::json!({
            "metadata": {"uid": v.metadata.uid},
            "spec": {"volumeName": out.spec.as_ref().and_then(|s| s.volume_name.clone())},
        });
        tenant_call(
            ctx,
            api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
        )
        .await?;
    }
    let body = serde_json::json!({"metadata": {"uid": v.metadata.uid}, "status": out.status});
    tenant_call(
        ctx,
        api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
    )
    .await?;
    Ok(Synced::Updated)
}
