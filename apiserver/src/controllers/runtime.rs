//! The control-loop runtime: the `Controller` trait, deduplicating queues, spawning with
//! periodic resync, and helpers the loops share.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;

use crate::api::{Api, Change};
use crate::error::ApiError;

/// A namespaced key a controller reconciles.
pub type Key = (String, String);

/// What a reconcile asks for next.
pub type Requeue = Option<Duration>;

/// A level-based control loop.
pub trait Controller: Send + Sync + 'static {
    /// Name (for logs).
    fn name(&self) -> &'static str;
    /// Keys a change makes stale.
    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key>;
    /// Every key (periodic resync).
    fn all_keys(&self, api: &Api) -> Vec<Key>;
    /// How often every key is reconciled again.
    fn resync(&self) -> Duration {
        RESYNC
    }
    /// Brings one key to its desired state.
    fn reconcile(
        &self,
        api: Arc<Api>,
        key: Key,
    ) -> impl Future<Output = Result<Requeue, ApiError>> + Send;
}

/// A deduplicating work queue.
#[derive(Default)]
struct Queue {
    items: Mutex<(VecDeque<Key>, HashSet<Key>)>,
    notify: Notify,
}

impl Queue {
    fn add(&self, k: Key) {
        let mut g = self.items.lock().unwrap_or_else(|p| p.into_inner());
        if g.1.insert(k.clone()) {
            g.0.push_back(k);
            self.notify.notify_one();
        }
    }

    fn pop(&self) -> Option<Key> {
        let mut g = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let k = g.0.pop_front()?;
        g.1.remove(&k);
        Some(k)
    }
}

const RESYNC: Duration = Duration::from_secs(30);

/// Runs a controller until the server shuts down.
pub fn spawn<C: Controller>(api: Arc<Api>, c: C) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _running = api.loops.started(c.name());
        let c = Arc::new(c);
        let queue = Arc::new(Queue::default());
        let mut rx = api.changes.subscribe();
        for k in c.all_keys(&api) {
            queue.add(k);
        }
        let feeder = {
            let (api, c, queue) = (api.clone(), c.clone(), queue.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(c.resync());
                loop {
                    tokio::select! {
                        r = rx.recv() => match r {
                            Ok(ch) => for k in c.keys_for(&api, &ch) { queue.add(k) },
                            Err(RecvError::Lagged(_)) => for k in c.all_keys(&api) { queue.add(k) },
                            Err(RecvError::Closed) => break,
                        },
                        _ = tick.tick() => for k in c.all_keys(&api) { queue.add(k) },
                        _ = api.shutdown.cancelled() => break,
                    }
                }
            })
        };
        loop {
            let Some(key) = queue.pop() else {
                tokio::select! {
                    _ = queue.notify.notified() => continue,
                    _ = api.shutdown.cancelled() => break,
                }
            };
            match c.reconcile(api.clone(), key.clone()).await {
                Ok(None) => {}
                Ok(Some(after)) => requeue_later(&queue, key, after),
                Err(e) => {
                    tracing::debug!(controller = c.name(), ns = %key.0, name = %key.1, error = %e, "reconcile failed; retrying");
                    requeue_later(&queue, key, Duration::from_millis(500));
                }
            }
        }
        feeder.abort();
    })
}

fn requeue_later(queue: &Arc<Queue>, key: Key, after: Duration) {
    let q = queue.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        q.add(key);
    });
}

/// Keys for a controller of `kind` objects stored at `storage` that owns objects stored at
/// `owned`: a change to one of its objects, or to an object it controls, queues that object.
pub fn owner_keys(change: &Change, storage: &str, owned: &str, kind: &str) -> Vec<Key> {
    if change.storage == storage {
        return vec![(change.namespace.clone(), change.name.clone())];
    }
    match &change.controller {
        Some((k, n)) if change.storage == owned && k == kind => {
            vec![(change.namespace.clone(), n.clone())]
        }
        _ => Vec::new(),
    }
}

/// Deletes `namespace/name` of `def` with default options; already gone counts as done.
pub async fn delete_gone_ok(
    api: &Api,
    def: &crate::registry::ResourceDef,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let opts = crate::storage::DeleteOptions::default();
    match crate::storage::delete_object(api, def, namespace, name, &opts).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `status` to the status subresource of `obj` as `manager`, unless it is already so.
pub async fn write_status(
    api: &Api,
    def: &crate::registry::ResourceDef,
    obj: &serde_json::Value,
    manager: &str,
    status: serde_json::Value,
) -> Result<(), ApiError> {
    if obj.get("status") == Some(&status) {
        return Ok(());
    }
    crate::storage::update(
        api,
        def,
        &crate::storage::Actor::system(manager),
        crate::meta::namespace(obj),
        crate::meta::name(obj),
        Some("status"),
        |o| {
            o["status"] = status.clone();
            true
        },
    )
    .await?;
    Ok(())
}

/// Keys of every object of a storage key.
pub fn keys_of(api: &Api, storage: &str) -> Vec<Key> {
    keys_in(api, storage, None)
}

/// Keys of the stored objects of `storage` in `namespace` (every namespace when `None`).
pub fn keys_in(api: &Api, storage: &str, namespace: Option<&str>) -> Vec<Key> {
    api.store
        .keys(storage, namespace)
        .into_iter()
        .map(|(ns, name)| (ns.into(), name.into()))
        .collect()
}
