//! One virtual node in one tenant: created on first bind, status mirrored from the super node,
//! its node Lease, removed with the super node.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::convert::node::{self, NODE_LEASE_NAMESPACE};
use crate::reconcile::{
    SyncError, SyncResult, Synced, is_conflict, is_not_found, lean, tenant_call,
};
use crate::tenants::tenant::Tenant;

/// Makes sure the tenant has virtual node `name` (and its Lease).
pub async fn ensure(ctx: &Context, tenant: &Tenant, name: &str) -> Result<(), SyncError> {
    if tenant.caches.get::<Node>().get("", name).is_some() {
        return Ok(());
    }
    let pnode =
        ctx.supers.get::<Node>().get("", name).ok_or_else(|| {
            SyncError::Waiting(format!("super node {name} is not in the cache yet"))
        })?;
    let desired = node::virtual_node(&pnode, ctx.config.vn_agent_port);
    let api: Api<Node> = Api::all(tenant.client.clone());
    let created = match tenant_call(ctx, api.create(&PostParams::default(), &desired)).await {
        Ok(n) => n,
        Err(e) if is_conflict(&e) => tenant_call(ctx, api.get(name)).await?,
        Err(e) => return Err(e),
    };
    if node::status_changed(&desired, &created) {
        let body = serde_json::json!({"status": desired.status});
        tenant_call(
            ctx,
            api.patch_status(name, &PatchParams::default(), &Patch::Merge(&body)),
        )
        .await?;
    }
    renew_lease(ctx, tenant, &created).await?;
    tracing::info!(tenant = %tenant.key, node = name, "virtual node created");
    Ok(())
}

/// Upward sync of one virtual node: mirror the super node, or remove it with the super node.
pub async fn reconcile(ctx: &Context, tenant: &Tenant, name: &str) -> SyncResult {
    let v = tenant.caches.get::<Node>().get("", name);
    let p = ctx.supers.get::<Node>().get("", name);
    let api: Api<Node> = Api::all(tenant.client.clone());
    match (v, p) {
        (None, Some(_)) => {
            // Tenant pods keep their node as the packed store's scan field.
            let used = (tenant.caches.get::<Pod>().briefs().iter())
                .any(|pod| pod.extra.as_deref() == Some(name));
            if used {
                ensure(ctx, tenant, name).await?;
                return Ok(Synced::Created);
            }
            Ok(Synced::Unchanged)
        }
        (None, None) => Ok(Synced::Unchanged),
        (Some(v), None) => {
            delete(ctx, tenant, &v).await?;
            Ok(Synced::Deleted)
        }
        (Some(v), Some(p)) => {
            let desired = node::virtual_node(&p, ctx.config.vn_agent_port);
            let mut result = Synced::Unchanged;
            if node::labels_changed(&desired, &v) {
                let body = serde_json::json!({
                    "metadata": {"uid": v.metadata.uid, "labels": desired.metadata.labels},
                });
                tenant_call(
                    ctx,
                    api.patch(name, &PatchParams::default(), &Patch::Merge(&body)),
                )
                .await?;
                result = Synced::Updated;
            }
            if node::status_changed(&desired, &v) {
                let body = serde_json::json!({
                    "metadata": {"uid": v.metadata.uid},
                    "status": desired.status,
                });
                tenant_call(
                    ctx,
                    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&body)),
                )
                .await?;
                result = Synced::Updated;
            }
            Ok(result)
        }
    }
}

/// Removes virtual node `v` and its Lease from the tenant.
pub async fn delete(ctx: &Context, tenant: &Tenant, v: &Node) -> Result<(), SyncError> {
    let api: Api<Node> = Api::all(tenant.client.clone());
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: v.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match tenant_call(ctx, api.delete(&v.name_any(), &dp)).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e),
    }
    let leases: Api<Lease> = Api::namespaced(tenant.client.clone(), NODE_LEASE_NAMESPACE);
    match tenant_call(ctx, leases.delete(&v.name_any(), &DeleteParams::default())).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Renews (or creates) the node Lease of virtual node `vnode`.
pub async fn renew_lease(ctx: &Context, tenant: &Tenant, vnode: &Node) -> Result<(), SyncError> {
    let api: Api<Lease> = Api::namespaced(tenant.client.clone(), NODE_LEASE_NAMESPACE);
    let lease = node::lease(vnode, jiff::Timestamp::now());
    let name = vnode.name_any();
    let body = serde_json::json!({"spec": lease.spec});
    let patch = Patch::Merge(&body);
    // The renewed Lease is not read: skip decoding it (one renewal per virtual node per period).
    let renewed = lean::patch::<Lease, _>(&tenant.client, NODE_LEASE_NAMESPACE, &name, &patch);
    match tenant_call(ctx, renewed).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => {
            match tenant_call(ctx, api.create(&PostParams::default(), &lease)).await {
                Ok(_) => Ok(()),
                Err(e) if is_conflict(&e) => Ok(()),
                Err(e) if is_not_found(&e) => {
                    // A tenant API server that does not create kube-node-lease itself.
                    ensure_lease_namespace(ctx, tenant).await?;
                    match tenant_call(ctx, api.create(&PostParams::default(), &lease)).await {
                        Ok(_) => Ok(()),
                        Err(e) if is_conflict(&e) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

async fn ensure_lease_namespace(ctx: &Context, tenant: &Tenant) -> Result<(), SyncError> {
    use k8s_openapi::api::core::v1::Namespace;
    let api: Api<Namespace> = Api::all(tenant.client.clone());
    let ns = Namespace {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(NODE_LEASE_NAMESPACE.into()),
            ..Default::default()
        },
        ..Namespace::default()
    };
    match tenant_call(ctx, api.create(&PostParams::default(), &ns)).await {
        Ok(_) => Ok(()),
        Err(e) if is_conflict(&e) => Ok(()),
        Err(e) => Err(e),
    }
}
