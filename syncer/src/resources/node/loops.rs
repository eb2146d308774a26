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

/// Virtual node Leases renewed at once. Renewing every Lease at the same instant opened a
/// connection (and a TLS handshake) per node to each tenant: at thousands of virtual nodes that
/// cost more CPU than the renewals and exhausted file descriptors. A bounded number in flight,
/// dealt round robin over the tenants, keeps each tenant's pooled connections busy instead.
const LEASE_RENEWALS_IN_FLIGHT: usize = 32;

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
        let started = Instant::now();
        let mut due = Vec::new();
        for t in ctx.tenants().into_iter().filter(|t| t.is_healthy()) {
            if t.caches_synced() {
                ensure_preview(&ctx, &t).await;
            }
            let ready: Vec<Arc<Node>> = (t.caches.get::<Node>().list().into_iter())
                .filter(|v| super_node_ready(&ctx, &v.name_any()))
                .collect();
            due.push((t, ready));
        }
        let renewals = round_robin(due);
        futures::stream::iter(renewals)
            .for_each_concurrent(LEASE_RENEWALS_IN_FLIGHT, |(t, v)| {
                let ctx = &ctx;
                async move {
                    if let Err(e) = renew_lease(ctx, &t, &v).await {
                        tracing::warn!(tenant = %t.key, node = %v.name_any(), error = %e, "node lease renewal failed");
                    }
                }
            })
            .await;
        ctx.metrics
            .lease_round
            .observe(started.elapsed().as_secs_f64());
    }
}

fn super_node_ready(ctx: &Context, name: &str) -> bool {
    ctx.supers
        .get::<Node>()
        .get("", name)
        .is_some_and(|p| node::is_ready(&p))
}

/// The items of every group, one group after the other in turn (first items of each group,
/// then the second ones...), each paired with its group.
fn round_robin<G: Clone, T>(groups: Vec<(G, Vec<T>)>) -> Vec<(G, T)> {
    let total = groups.iter().map(|(_, items)| items.len()).sum();
    let mut out = Vec::with_capacity(total);
    let mut iters: Vec<(G, std::vec::IntoIter<T>)> = groups
        .into_iter()
        .map(|(g, items)| (g, items.into_iter()))
        .collect();
    while out.len() < total {
        for (g, items) in &mut iters {
            if let Some(item) = items.next() {
                out.push((g.clone(), item));
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::round_robin;

    #[test]
    fn renewals_are_dealt_over_the_tenants_in_turn() {
        let groups = vec![("a", vec![1, 2, 3]), ("b", vec![]), ("c", vec![4])];
        assert_eq!(
            round_robin(groups),
            vec![("a", 1), ("c", 4), ("a", 2), ("a", 3)]
        );
        assert!(round_robin::<&str, u8>(Vec::new()).is_empty());
    }
}
