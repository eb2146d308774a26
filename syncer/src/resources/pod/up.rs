//! Upward pod sync: bind the tenant pod to its virtual node, copy the status up, and follow
//! super-side deletion.

use k8s_openapi::api::core::v1::Pod;

use super::write::{force_delete_tenant, patch_status, ran_in_super};
use crate::context::Context;
use crate::convert::pod as cpod;
use crate::convert::{ConvertError, owned_by, recorded_uid};
use crate::queue::WorkKey;
use crate::reconcile::{SyncResult, Synced, is_conflict, lean, tenant_call};
use crate::resources::node::vnode;
use crate::tenants::tenant::Tenant;

/// Upward sync of one pod: binding to its virtual node, status, super-side deletion.
pub async fn up(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let tctx = tenant.ctx();
    let super_ns = tctx.super_ns(&key.namespace).map_err(ConvertError::from)?;
    let v = tenant.caches.get::<Pod>().get(&key.namespace, &key.name);
    let p = ctx
        .supers
        .get::<Pod>()
        .get(&super_ns, &key.name)
        .filter(|p| owned_by(&p.metadata, &tenant.key));
    let Some(v) = v else {
        if p.is_some() {
            ctx.down.add(key.clone());
        }
        return Ok(Synced::Unchanged);
    };
    let Some(p) = p else {
        if v.metadata.deletion_timestamp.is_some() || ran_in_super(&v) {
            return force_delete_tenant(ctx, tenant, &v).await;
        }
        ctx.down.add(key.clone());
        return Ok(Synced::Unchanged);
    };
    if recorded_uid(&p.metadata) != v.metadata.uid.as_deref() {
        ctx.down.add(key.clone());
        return Ok(Synced::Unchanged);
    }
    let mut result = Synced::Unchanged;
    let pnode = p
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    let vnode = v
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    if let (Some(node), None) = (&pnode, &vnode) {
        vnode::ensure(ctx, tenant, node).await?;
        let binding = cpod::binding(&v, node);
        let bound = tenant_call(
            ctx,
            lean::create_subresource::<Pod, _>(
                &tenant.client,
                &key.namespace,
                "binding",
                &key.name,
                &binding,
            ),
        )
        .await;
        match bound {
            Ok(_) => result = Synced::Updated,
            // Already bound (a concurrent reconcile won): the status update below still applies.
            Err(e) if is_conflict(&e) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(status) = cpod::status_up(&v, &p) {
        patch_status(ctx, tenant, &v, &status).await?;
        result = Synced::Updated;
    }
    Ok(result)
}
