//! The quota loop: expires reservations and drops waiting objects that are gone, publishes
//! `status.quota` and the metrics, keeps the backstop ResourceQuotas, and rebuilds the ledgers
//! from the super caches every patrol interval.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::track::requeue;
use super::{Amounts, Kind, ObjKey, RESERVATION_TTL, TICK, backstop, charge_key, publish};
use crate::context::Context;
use crate::resources;

/// Housekeeping until cancelled.
pub async fn run(ctx: Arc<Context>) {
    backstop::spawn_watch(&ctx);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_rebuild = Instant::now();
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if last_rebuild.elapsed() >= ctx.config.patrol_interval() {
            last_rebuild = Instant::now();
            rebuild(&ctx);
        }
        expire(&ctx);
        publish::publish(&ctx).await;
        backstop::ensure(&ctx).await;
    }
}

/// Drops reservations and waiting objects whose tenant object is gone (tenants whose caches
/// are synced only).
fn expire(ctx: &Context) {
    let keys: Vec<String> = ctx.quota.lock().keys().cloned().collect();
    for key in keys {
        let Some(t) = ctx.tenant(&key) else { continue };
        if !t.caches_synced() {
            continue;
        }
        let alive = |kind: Kind, ns: &str, name: &str, uid: &str| -> bool {
            t.caches.of(kind).is_some_and(|s| s.is_live(ns, name, uid))
        };
        let woken = ctx.quota.with(&key, |e| {
            e.ledger.expire(Instant::now(), RESERVATION_TTL, alive)
        });
        requeue(ctx, &key, woken);
    }
}

/// Rebuilds every ledger's charges from the super caches (under the ledger lock, so watch
/// updates land after it); a difference means a missed watch event and is logged.
pub fn rebuild(ctx: &Context) {
    if !ctx.supers_synced() {
        return;
    }
    let mut map = ctx.quota.lock();
    let mut fresh: HashMap<String, HashMap<ObjKey, Amounts>> = HashMap::new();
    let mut put = |kind: Kind, meta: &ObjectMeta, a: Amounts| {
        if let Some((cluster, uid)) = charge_key(meta) {
            fresh.entry(cluster).or_default().insert((kind, uid), a);
        }
    };
    for kind in resources::ALL {
        kind.quota_charges(ctx, &mut put);
    }
    let mut woken_all = Vec::new();
    let keys: BTreeSet<String> = map.keys().chain(fresh.keys()).cloned().collect();
    for key in keys {
        let charged = fresh.remove(&key).unwrap_or_default();
        let e = map.entry(key.clone()).or_default();
        let (drift, woken) = e.ledger.rebuild(charged, Instant::now());
        for d in drift {
            tracing::warn!(
                tenant = key,
                resource = d.resource,
                ledger = d.ledger,
                actual = d.actual,
                "quota ledger differed from the super caches; rebuilt"
            );
        }
        woken_all.push((key, woken));
    }
    drop(map);
    for (key, woken) in woken_all {
        requeue(ctx, &key, woken);
    }
}
