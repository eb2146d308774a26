//! Workers: take items from a fair queue, reconcile each through its resource's table entry,
//! record metrics, report failures as events.

use std::sync::Arc;
use std::time::Instant;

use super::{SyncError, SyncResult, Synced};
use crate::context::Context;
use crate::convert::{ConvertError, origin_namespace, owned_by};
use crate::queue::{Direction, Finished, Outcome, WorkKey, WorkQueue};
use crate::recorder;
use crate::resources;
use crate::tenants::tenant::Tenant;

/// Processes items from `queue` until it closes.
pub async fn run(ctx: Arc<Context>, queue: Arc<WorkQueue>) {
    let dir = queue.direction();
    while let Some(item) = queue.next().await {
        let (key, waited) = (item.key, item.waited);
        let start = Instant::now();
        let result = process(&ctx, dir, &key).await;
        let elapsed = start.elapsed().as_secs_f64();
        let labels = [&*key.tenant, dir.as_str(), key.resource.as_str()];
        ctx.metrics
            .sync_latency
            .with_label_values(&labels)
            .observe(elapsed);
        match result {
            Ok(done) => {
                if done != Synced::Unchanged {
                    ctx.metrics
                        .write_latency
                        .with_label_values(&labels)
                        .observe(waited.as_secs_f64() + elapsed);
                }
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
                        warn(&ctx, &key, &err).await;
                    }
                } else {
                    tracing::debug!(%key, direction = dir.as_str(), error = %err, "sync failed; will retry");
                }
            }
        }
    }
}

/// Reconciles one work item through its resource's table entry.
pub async fn process(ctx: &Context, dir: Direction, key: &WorkKey) -> SyncResult {
    let (Some(tenant), Some(kind)) = (ctx.tenant(&key.tenant), resources::get(key.resource)) else {
        return Ok(Synced::Unchanged);
    };
    match dir {
        Direction::Down => {
            if key.resource.is_namespaced() {
                check_super_namespace(ctx, &tenant, &key.namespace)?;
            }
            kind.down(ctx, &tenant, key).await
        }
        Direction::Up => kind.up(ctx, &tenant, key).await,
    }
}

/// Refuses downward work in a tenant namespace whose super namespace belongs to another
/// tenant namespace (two long names that shorten to the same super name): nothing may be
/// written into, or deleted from, someone else's namespace.
fn check_super_namespace(ctx: &Context, tenant: &Tenant, tenant_ns: &str) -> Result<(), SyncError> {
    let super_ns = tenant
        .ctx()
        .super_ns(tenant_ns)
        .map_err(ConvertError::from)?;
    let namespaces = ctx.supers.get::<k8s_openapi::api::core::v1::Namespace>();
    let Some(p) = namespaces.get("", &super_ns) else {
        return Ok(());
    };
    let ours =
        owned_by(&p.metadata, &tenant.key) && origin_namespace(&p.metadata) == Some(tenant_ns);
    match ours {
        true => Ok(()),
        false => Err(ConvertError::NameConflict(format!(
            "tenant namespace {tenant_ns:?} maps to super namespace {super_ns}, which belongs to \
             another namespace; shorten or rename the namespace"
        ))
        .into()),
    }
}

/// Records the Warning event a failed downward item deserves on its tenant object.
async fn warn(ctx: &Context, key: &WorkKey, err: &SyncError) {
    let (Some(tenant), Some(kind)) = (ctx.tenant(&key.tenant), resources::get(key.resource)) else {
        return;
    };
    if let Some(obj) = kind.involved(&tenant, key) {
        recorder::record(&tenant.client, obj, err.reason(), &err.to_string()).await;
    }
}
