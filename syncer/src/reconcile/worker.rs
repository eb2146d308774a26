//! Workers: take items from a fair queue, reconcile, record metrics, report failures as events.

use std::sync::Arc;
use std::time::Instant;

use crate::context::Context;
use crate::queue::{Direction, Finished, Outcome, WorkQueue};
use crate::recorder;

/// Processes items from `queue` until it closes.
pub async fn run(ctx: Arc<Context>, queue: Arc<WorkQueue>) {
    let dir = queue.direction();
    while let Some(item) = queue.next().await {
        let key = item.key;
        let start = Instant::now();
        let result = super::process(&ctx, dir, &key).await;
        let elapsed = start.elapsed().as_secs_f64();
        let labels = [&*key.tenant, dir.as_str(), key.resource.as_str()];
        ctx.metrics
            .sync_latency
            .with_label_values(&labels)
            .observe(elapsed);
        match result {
            Ok(done) => {
                ctx.metrics
                    .operations
                    .with_label_values(&[labels[0], labels[1], labels[2], done.as_str()])
                    .inc();
                queue.finish(&key, Outcome::Done);
            }
            Err(err) => {
                let outcome = err.outcome();
                let finished = queue.finish(&key, outcome);
                let result = match finished {
                    Finished::GaveUp => "gave_up",
                    _ => err.kind(),
                };
                ctx.metrics
                    .operations
                    .with_label_values(&[labels[0], labels[1], labels[2], result])
                    .inc();
                if let Some(rule) = err.refusal_rule()
                    && dir == Direction::Down
                {
                    ctx.metrics
                        .policy_refusals
                        .with_label_values(&[labels[0], rule])
                        .inc();
                }
                if finished == Finished::GaveUp {
                    tracing::warn!(%key, direction = dir.as_str(), error = %err, "sync failed; not retrying until the object changes");
                    if dir == Direction::Down {
                        recorder::warn_tenant_object(&ctx, &key, err.reason(), &err.to_string())
                            .await;
                    }
                } else {
                    tracing::debug!(%key, direction = dir.as_str(), error = %err, "sync failed; will retry");
                }
            }
        }
    }
}
