//! Tenant health: a probe per tenant pauses its queues while its API server does not answer
//! (or its caches are not synced), without touching other tenants, and resyncs it when it
//! comes back.

use std::sync::Arc;
use std::time::Duration;

use super::tenant::Tenant;
use crate::context::Context;
use crate::recorder;

/// Probes a tenant until it is removed: healthy once its caches are synced and it answers;
/// its queues are paused while it is not.
pub async fn health_loop(ctx: Arc<Context>, t: Arc<Tenant>) {
    let period = Duration::from_secs(ctx.config.health_interval_secs);
    loop {
        let answers = matches!(
            tokio::time::timeout(ctx.config.tenant_timeout(), t.client.apiserver_version()).await,
            Ok(Ok(_))
        );
        let healthy = answers && t.caches_synced();
        let was = t.set_healthy(healthy);
        ctx.metrics
            .tenant_healthy
            .with_label_values(&[&*t.key])
            .set(i64::from(healthy));
        if healthy != was {
            ctx.down.set_paused(&t.key, !healthy);
            ctx.up.set_paused(&t.key, !healthy);
            if healthy {
                tracing::info!(tenant = %t.key, "tenant healthy: caches synced, API server answers");
                crate::patrol::resync_tenant(&ctx, &t);
            } else {
                tracing::warn!(tenant = %t.key, "tenant unhealthy: its API server does not answer");
                recorder::warn_vc(
                    &ctx.client,
                    t.vc_ref.clone(),
                    "TenantUnhealthy",
                    "the syncer cannot reach the tenant API server; its sync is paused",
                )
                .await;
            }
        }
        let wait = if !healthy && answers {
            Duration::from_millis(100)
        } else {
            period
        };
        tokio::select! {
            _ = t.cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
