//! The virtual-node loops: node Leases renewed while the super node is Ready, and virtual
//! nodes removed after a grace period without tenant pods.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;

use super::preview::preview_set;
use super::vnode::{delete, ensure, renew_lease};
use crate::context::Context;
use crate::convert::node;
use crate::tenants::tenant::Tenant;

/// Lease renewals in flight per tenant. Renewing every Lease at once opened a connection (and
/// a TLS handshake) per virtual node; a few per tenant keep its pooled connections busy.
const LEASE_RENEWALS_PER_TENANT: usize = 4;

/// Shows every healthy tenant its preview nodes and renews its virtual node Leases whose
/// super node is Ready, forever. Each tenant renews in its own task, so a slow (or hostile)
/// tenant API server delays only its own Leases; a tenant whose previous round is still
/// running skips a tick.
pub async fn lease_loop(ctx: Arc<Context>) {
    let period = Duration::from_secs(ctx.config.lease_renew_secs);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds: HashMap<Arc<str>, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        rounds.retain(|_, round| !round.is_finished());
        for t in ctx.tenants().into_iter().filter(|t| t.is_healthy()) {
            if rounds.contains_key(&*t.key) {
                continue;
            }
            let round = tokio::spawn(renew_tenant(Arc::clone(&ctx), Arc::clone(&t)));
            rounds.insert(Arc::clone(&t.key), round);
        }
    }
    for round in rounds.values() {
        round.abort();
    }
}

/// One round for one tenant: its preview nodes, then the Leases of its virtual nodes.
async fn renew_tenant(ctx: Arc<Context>, t: Arc<Tenant>) {
    let started = Instant::now();
    if t.caches_synced() {
        ensure_preview(&ctx, &t).await;
    }
    let ready: Vec<Arc<Node>> = (t.caches.get::<Node>().list().into_iter())
        .filter(|v| super_node_ready(&ctx, &v.name_any()))
        .collect();
    futures::stream::iter(ready)
        .for_each_concurrent(LEASE_RENEWALS_PER_TENANT, |v| {
            let (ctx, t) = (&ctx, &t);
            async move {
                if let Err(e) = renew_lease(ctx, t, &v).await {
                    tracing::warn!(tenant = %t.key, node = %v.name_any(), error = %e, "node lease renewal failed");
                }
            }
        })
        .await;
    ctx.metrics
        .lease_round
        .observe(started.elapsed().as_secs_f64());
}

fn super_node_ready(ctx: &Context, name: &str) -> bool {
    ctx.supers
        .get::<Node>()
        .get("", name)
        .is_some_and(|p| node::is_ready(&p))
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
