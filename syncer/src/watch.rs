//! Starting the watches the resource modules ask for: a super-cluster watch feeds a super store
//! and hands every change to the kind's router; a tenant watch feeds the tenant's store and
//! queues a work item per change.

use std::sync::Arc;

use crds::tenancy;

use crate::cache::{Change, Lane, WatchSpec, Watched, run_watch};
use crate::context::Context;
use crate::convert;
use crate::queue::{Resource as Res, WorkKey, WorkQueue};
use crate::tenants::tenant::Tenant;

/// Watch only objects the syncer manages.
pub fn managed<K>() -> WatchSpec<K> {
    WatchSpec {
        labels: Some(tenancy::LABEL_VC_NAME.to_string()),
        ..WatchSpec::default()
    }
}

/// Watch only public objects.
pub fn public<K>() -> WatchSpec<K> {
    WatchSpec {
        labels: Some(format!("{}=true", tenancy::LABEL_SUPER_PUBLIC)),
        ..WatchSpec::default()
    }
}

/// Starts the super-cluster watch of kind `K` into its super store; `route` sees every change
/// after the store has it.
pub fn super_watch<K, F>(ctx: &Arc<Context>, spec: WatchSpec<K>, route: F)
where
    K: Watched,
    F: Fn(&Context, Change<'_, K>) + Send + Sync + 'static,
{
    let client = ctx.client.clone();
    let store = Arc::clone(ctx.supers.get::<K>());
    let weak = Arc::downgrade(ctx);
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        let handler = move |c: Change<'_, K>| {
            if let Some(ctx) = weak.upgrade() {
                route(&ctx, c);
            }
        };
        run_watch(client, spec, store, handler, cancel).await;
    });
}

/// Starts tenant `t`'s watch of kind `K` into its store; every change to an object that is not
/// ignored queues `resource` work on `queue`.
pub fn tenant_watch<K: Watched>(
    t: &Arc<Tenant>,
    resource: Res,
    queue: &Arc<WorkQueue>,
    spec: WatchSpec<K>,
) {
    let queue = Arc::clone(queue);
    let tenant = Arc::clone(&t.key);
    tenant_watch_with(t, spec, move |change: Change<'_, K>| {
        let meta = change.object().meta();
        if convert::ignored(meta) {
            return;
        }
        let key = WorkKey::new(
            &tenant,
            resource,
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        );
        enqueue(&queue, key, change.lane());
    });
}

/// Starts tenant `t`'s watch of kind `K` into its store with a handler of its own.
pub fn tenant_watch_with<K, H>(t: &Arc<Tenant>, spec: WatchSpec<K>, handler: H)
where
    K: Watched,
    H: Fn(Change<'_, K>) + Send + Sync + 'static,
{
    let store = Arc::clone(t.caches.get::<K>());
    let cancel = t.cancel.clone();
    tokio::spawn(run_watch(t.client.clone(), spec, store, handler, cancel));
}

/// Queues `key`, the work `change` causes, downward and/or upward in the change's lane.
pub fn deliver<K>(
    ctx: &Context,
    change: Change<'_, K>,
    key: Option<WorkKey>,
    down: bool,
    up: bool,
) {
    let Some(key) = key else {
        return;
    };
    let lane = change.lane();
    match (down, up) {
        (true, true) => {
            enqueue(&ctx.down, key.clone(), lane);
            enqueue(&ctx.up, key, lane);
        }
        (true, false) => enqueue(&ctx.down, key, lane),
        (false, true) => enqueue(&ctx.up, key, lane),
        (false, false) => {}
    }
}

/// Queues `key` on `queue` in `lane`.
pub fn enqueue(queue: &WorkQueue, key: WorkKey, lane: Lane) {
    match lane {
        Lane::Live => queue.add(key),
        Lane::Resync => queue.add_resync(key),
    }
}
