//! The patrol: a periodic full comparison of every healthy tenant's caches with the super
//! caches that repairs drift, removes orphans and recreates what is missing, by queueing a work
//! item per finding. Each resource module has its own check ([`compare`] holds what they
//! share, [`diff`] the pure comparison); this module runs them over the resource table.

pub mod compare;
pub mod diff;

use std::sync::Arc;
use std::time::{Duration, Instant};

use self::compare::Scope;
use crate::context::Context;
use crate::resources;
use crate::tenants::tenant::Tenant;

/// Runs a patrol scan every `patrol_interval`, forever.
pub async fn run(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(ctx.config.patrol_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let took = scan(&ctx);
        tracing::debug!(ms = took.as_millis(), "patrol scan done");
    }
}

/// One full scan over every healthy tenant; returns how long it took.
pub fn scan(ctx: &Context) -> Duration {
    let start = Instant::now();
    for t in ctx.tenants() {
        if t.is_healthy() {
            scan_tenant(ctx, &t, &Scope::of(ctx, &t));
        }
    }
    crate::quota::backstop::patrol(ctx);
    let took = start.elapsed();
    ctx.metrics.patrol_duration.observe(took.as_secs_f64());
    took
}

/// A full resync of one tenant, run when it becomes healthy: the patrol scan, plus upward work
/// for every super object it owns (status may have changed while nobody watched).
pub fn resync_tenant(ctx: &Context, t: &Tenant) {
    let scope = Scope::of(ctx, t);
    scan_tenant(ctx, t, &scope);
    for kind in resources::enabled(&ctx.config) {
        kind.resync_up(ctx, t, &scope);
    }
}

/// Runs every enabled resource's patrol check on one tenant.
fn scan_tenant(ctx: &Context, t: &Tenant, scope: &Scope) {
    for kind in resources::enabled(&ctx.config) {
        kind.patrol(ctx, t, scope);
    }
}
