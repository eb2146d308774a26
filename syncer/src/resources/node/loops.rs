//! The virtual-node loops: node Leases renewed while the super node is Ready, and virtual
//! nodes removed after a grace period without tenant pods.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;

use super::preview::preview_set;
use super::vnode::{delete, ensure, renew_lease};
use crate::context::Context;
use crate::convert::node;
use crate::tenants::tenant::Tenant;

/// Shows every healthy tenant its preview nodes and renews its virtual node Leases whose
/// super node is Ready, forever.
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
            if t.caches_synced() {
                ensure_preview(&ctx, &t).await;
            }
            for v in t.caches.get::<Node>().list() {
                let ready = ctx
                    .supers
                    .get::<Node>()
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

/// Removes virtual nodes that are neither previewed nor used by a tenant pod for the grace
/// period, forever.
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

/// The super nodes tenant `t` is shown whether or not its pods use them.
fn previewed(ctx: &Context, t: &Tenant) -> Vec<String> {
    let supers = ctx.supers.get::<Node>().list();
    preview_set(
        &t.key,
        &t.ctx().placement,
        supers.iter().map(|n| &**n),
        ctx.config.vnodes_before_pods,
    )
}

/// Shows the tenant its preview nodes, creating missing ones.
async fn ensure_preview(ctx: &Context, t: &Tenant) {
    for name in &previewed(ctx, t) {
        if let Err(e) = ensure(ctx, t, name).await {
            tracing::warn!(tenant = %t.key, node = %name, error = %e, "preview virtual node not created");
        }
    }
}

async fn gc_tenant(ctx: &Context, t: &Tenant, grace: Duration) {
    let mut used: HashMap<String, usize> = HashMap::new();
    // Tenant pods keep their node as the packed store's scan field.
    for pod in t.caches.get::<Pod>().briefs() {
        if let Some(n) = &pod.extra {
            *used.entry(n.to_string()).or_default() += 1;
        }
    }
    for name in previewed(ctx, t) {
        *used.entry(name).or_default() += 1;
    }
    let vnodes = t.caches.get::<Node>().list();
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
