//! Virtual nodes in tenants: created on first bind, status mirrored from the super node, a node
//! Lease renewed while the super node is Ready, removed with the super node or after a grace
//! period without tenant pods.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::convert::node::{self, NODE_LEASE_NAMESPACE};
use crate::reconcile::{SyncError, SyncResult, Synced, is_conflict, is_not_found, tenant_call};
use crate::tenant::Tenant;

/// Makes sure the tenant has virtual node `name` (and its Lease).
pub async fn ensure(ctx: &Context, tenant: &Tenant, name: &str) -> Result<(), SyncError> {
    if tenant.caches.nodes.get("", name).is_some() {
        return Ok(());
    }
    let pnode =
        ctx.supers.nodes.get("", name).ok_or_else(|| {
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
    let v = tenant.caches.nodes.get("", name);
    let p = ctx.supers.nodes.get("", name);
    let api: Api<Node> = Api::all(tenant.client.clone());
    match (v, p) {
        (None, Some(_)) => {
            let used =
                tenant.caches.pods.list().iter().any(|pod| {
                    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name)
                });
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

async fn delete(ctx: &Context, tenant: &Tenant, v: &Node) -> Result<(), SyncError> {
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
    match tenant_call(
        ctx,
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&body)),
    )
    .await
    {
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

/// Renews every healthy tenant's virtual node Leases whose super node is Ready, forever.
pub async fn lease_loop(ctx: Arc<Context>) {
    let period = Duration::from_secs(ctx.config.lease_renew_secs);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut jobs = Vec::new();
        for t in ctx.tenants().into_iter().filter(|t| t.is_healthy()) {
            for v in t.caches.nodes.list() {
                let ready = ctx
                    .supers
                    .nodes
                    .get("", &v.name_any())
                    .is_some_and(|p| node::is_ready(&p));
                if !ready {
                    continue;
                }
                let ctx = Arc::clone(&ctx);
                let t = Arc::clone(&t);
                jobs.push(async move {
                    if let Err(e) = renew_lease(&ctx, &t, &v).await {
                        tracing::warn!(tenant = %t.key, node = %v.name_any(), error = %e, "node lease renewal failed");
                    }
                });
            }
        }
        futures::future::join_all(jobs).await;
    }
}

/// Removes virtual nodes no tenant pod has used for the grace period, forever.
pub async fn gc_loop(ctx: Arc<Context>) {
    let grace = Duration::from_secs(ctx.config.vnode_gc_grace_secs);
    let period = (grace / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        for t in ctx.tenants() {
            if !t.is_healthy() {
                continue;
            }
            gc_tenant(&ctx, &t, grace).await;
        }
    }
}

async fn gc_tenant(ctx: &Context, t: &Tenant, grace: Duration) {
    let mut used: HashMap<String, usize> = HashMap::new();
    for pod in t.caches.pods.list() {
        if let Some(n) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
            *used.entry(n).or_default() += 1;
        }
    }
    let vnodes = t.caches.nodes.list();
    ctx.metrics
        .virtual_nodes
        .with_label_values(&[&*t.key])
        .set(i64::try_from(vnodes.len()).unwrap_or(i64::MAX));
    let now = Instant::now();
    let mut expired = Vec::new();
    {
        let mut idle = t.vnode_idle_since.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|n, _| vnodes.iter().any(|v| v.name_any() == *n));
        for v in &vnodes {
            let name = v.name_any();
            if used.contains_key(&name) {
                idle.remove(&name);
                continue;
            }
            let since = *idle.entry(name).or_insert(now);
            if now.duration_since(since) >= grace {
                expired.push(Arc::clone(v));
            }
        }
    }
    for v in expired {
        match delete(ctx, t, &v).await {
            Ok(()) => {
                tracing::info!(tenant = %t.key, node = %v.name_any(), "virtual node removed after grace period without pods");
                t.vnode_idle_since
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&v.name_any());
            }
            Err(e) => {
                tracing::warn!(tenant = %t.key, node = %v.name_any(), error = %e, "virtual node GC failed")
            }
        }
    }
}
