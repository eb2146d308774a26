//! The ledgers kept in step with the cluster: super objects charged and freed as the watches
//! see them, limits applied from the VirtualCluster, tenant objects leaving the line, and
//! woken objects queued for another reconcile.

use crds::VirtualCluster;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Amounts, Kind, Woken};
use crate::context::Context;
use crate::queue::WorkKey;
use crate::reconcile::SyncError;

/// Queues downward work for woken objects of tenant `key`.
pub fn requeue(ctx: &Context, key: &str, woken: Vec<Woken>) {
    if woken.is_empty() {
        return;
    }
    let Some(t) = ctx.tenant(key) else { return };
    for w in woken {
        ctx.down
            .add(WorkKey::new(&t.key, w.kind, w.namespace, w.name));
    }
}

/// Super watch hook of a counted kind: charges the object's usage or, with `None` (it is
/// gone), frees it, and admits what now fits.
pub fn charge(ctx: &Context, kind: Kind, meta: &ObjectMeta, amounts: Option<Amounts>) {
    if let Some((key, woken)) = ctx.quota.observe(kind, meta, amounts) {
        requeue(ctx, &key, woken);
    }
}

/// Applies a VirtualCluster's limits to its tenant (called whenever the tenant lifecycle sees
/// it); a change moves the line at once.
pub fn set_limits(ctx: &Context, vc: &VirtualCluster, key: &str) {
    match ctx
        .quota
        .set_limits(key, vc, &ctx.config.default_tenant_quota)
    {
        Ok(woken) => requeue(ctx, key, woken),
        Err(e) => {
            tracing::warn!(tenant = key, error = %e, "invalid quota on the VirtualCluster; keeping the previous limits")
        }
    }
}

/// After a failed create: a definite refusal ends the reservation (a timeout keeps it, the
/// object may exist; the reservation then expires or turns into a charge).
pub fn create_failed(ctx: &Context, tenant_key: &str, kind: Kind, uid: &str, err: &SyncError) {
    if let SyncError::Kube(kube::Error::Api(s)) = err
        && s.code != 409
    {
        let woken = ctx.quota.release(tenant_key, &(kind, uid.to_string()));
        requeue(ctx, tenant_key, woken);
    }
}

/// Forgets a tenant object that is gone or being deleted (it leaves the line).
pub fn forget(ctx: &Context, tenant_key: &str, kind: Kind, ns: &str, name: &str) {
    let woken = ctx.quota.forget(tenant_key, kind, ns, name);
    requeue(ctx, tenant_key, woken);
}
