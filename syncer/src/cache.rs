//! Informer-style caches: a watch keeps a store of (pruned) objects by namespace and name, and
//! tells a handler what changed so work can be queued.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Objects of one kind, by namespace (empty for cluster-scoped) and name.
pub struct Store<K> {
    map: RwLock<HashMap<String, HashMap<String, Arc<K>>>>,
    synced: AtomicBool,
    synced_tx: watch::Sender<bool>,
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Store {
            map: RwLock::new(HashMap::new()),
            synced: AtomicBool::new(false),
            synced_tx: watch::channel(false).0,
        }
    }
}

impl<K: Resource> Store<K> {
    /// An empty, unsynced store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, HashMap<String, Arc<K>>>> {
        // Writers never leave the map half-updated, so a poisoned lock is still consistent.
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, HashMap<String, Arc<K>>>> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The object `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.read().get(namespace)?.get(name).cloned()
    }

    /// Every object in `namespace`.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.read()
            .get(namespace)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.read().values().map(HashMap::len).sum()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the initial list has been loaded.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Waits until the initial list has been loaded.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced_tx.subscribe();
        // The sender lives as long as the store, so this only ends when synced.
        let _ = rx.wait_for(|s| *s).await;
    }

    fn key(obj: &K) -> (String, String) {
        (
            obj.meta().namespace.clone().unwrap_or_default(),
            obj.meta().name.clone().unwrap_or_default(),
        )
    }

    /// Inserts or replaces an object.
    pub fn apply(&self, obj: K) -> Arc<K> {
        let (ns, name) = Self::key(&obj);
        let obj = Arc::new(obj);
        self.write()
            .entry(ns)
            .or_default()
            .insert(name, Arc::clone(&obj));
        obj
    }

    /// Removes an object.
    pub fn remove(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        let mut map = self.write();
        let inner = map.get_mut(namespace)?;
        let old = inner.remove(name);
        if inner.is_empty() {
            map.remove(namespace);
        }
        old
    }

    /// Replaces the whole content (after a relist) and returns the objects that disappeared.
    pub fn replace(&self, objs: Vec<K>) -> Vec<Arc<K>> {
        let mut fresh: HashMap<String, HashMap<String, Arc<K>>> = HashMap::new();
        for obj in objs {
            let (ns, name) = Self::key(&obj);
            fresh.entry(ns).or_default().insert(name, Arc::new(obj));
        }
        let mut map = self.write();
        let old = std::mem::replace(&mut *map, fresh);
        let mut gone = Vec::new();
        for (ns, objs) in old {
            for (name, obj) in objs {
                if !map.get(&ns).is_some_and(|m| m.contains_key(&name)) {
                    gone.push(obj);
                }
            }
        }
        gone
    }

    fn mark_synced(&self) {
        self.synced.store(true, Ordering::Release);
        self.synced_tx.send_replace(true);
    }
}

/// What happened to a watched object.
#[derive(Debug)]
pub enum Change<'a, K> {
    /// Created, updated, or present in a relist.
    Applied(&'a K),
    /// Deleted (or gone from a relist, or no longer matching the filter).
    Deleted(&'a K),
}

impl<'a, K> Change<'a, K> {
    /// The object that changed.
    pub fn object(&self) -> &'a K {
        match self {
            Change::Applied(o) | Change::Deleted(o) => o,
        }
    }
}

/// How to keep a watched kind.
pub struct WatchSpec<K> {
    /// Label selector of the watch.
    pub labels: Option<String>,
    /// Field selector of the watch.
    pub fields: Option<String>,
    /// Trims an object to what the syncer needs before it is stored.
    pub prune: fn(&mut K),
    /// Objects for which this returns false are not stored.
    pub keep: Box<dyn Fn(&K) -> bool + Send + Sync>,
}

impl<K> Default for WatchSpec<K> {
    fn default() -> Self {
        WatchSpec {
            labels: None,
            fields: None,
            prune: strip_managed_fields::<K>,
            keep: Box::new(|_| true),
        }
    }
}

fn strip_managed_fields<K>(_: &mut K) {}

/// Drops `managedFields` (the largest useless part of most objects).
pub fn strip_managed<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// Keeps `store` in step with the API server until `cancel` fires, calling `handler` for every
/// change after the store was updated.
pub async fn run_watch<K, H>(
    api: Api<K>,
    spec: WatchSpec<K>,
    store: Arc<Store<K>>,
    handler: H,
    cancel: CancellationToken,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    H: Fn(Change<'_, K>) + Send + Sync,
{
    let mut cfg = watcher::Config::default();
    if let Some(l) = &spec.labels {
        cfg = cfg.labels(l);
    }
    if let Some(f) = &spec.fields {
        cfg = cfg.fields(f);
    }
    let kind = K::kind(&()).to_string();
    let start = || watcher(api.clone(), cfg.clone()).boxed();
    let mut stream = start();
    let mut buffer: Vec<K> = Vec::new();
    let mut failures = 0u32;
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = stream.next() => e,
        };
        let Some(event) = event else { return };
        if event.is_ok() {
            failures = 0;
        }
        match event {
            Ok(watcher::Event::Init) => buffer.clear(),
            Ok(watcher::Event::InitApply(mut obj)) => {
                (spec.prune)(&mut obj);
                strip_managed(&mut obj);
                if (spec.keep)(&obj) {
                    buffer.push(obj);
                }
            }
            Ok(watcher::Event::InitDone) => {
                let objs = std::mem::take(&mut buffer);
                let gone = store.replace(objs);
                for obj in &gone {
                    handler(Change::Deleted(obj));
                }
                for obj in store.list() {
                    handler(Change::Applied(&obj));
                }
                store.mark_synced();
                tracing::debug!(kind, objects = store.len(), "cache synced");
            }
            Ok(watcher::Event::Apply(mut obj)) => {
                (spec.prune)(&mut obj);
                strip_managed(&mut obj);
                if (spec.keep)(&obj) {
                    let obj = store.apply(obj);
                    handler(Change::Applied(&obj));
                } else {
                    let ns = obj.namespace().unwrap_or_default();
                    if let Some(old) = store.remove(&ns, &obj.name_any()) {
                        handler(Change::Deleted(&old));
                    }
                }
            }
            Ok(watcher::Event::Delete(obj)) => {
                let ns = obj.namespace().unwrap_or_default();
                let old = store.remove(&ns, &obj.name_any());
                handler(Change::Deleted(old.as_deref().unwrap_or(&obj)));
            }
            Err(e) if history_expired(&e) => {
                // The server has no history at our resourceVersion (it restarted or compacted):
                // only a fresh list can catch up, and waiting would delay every change.
                tracing::info!(kind, "watch history expired (410 Gone); relisting now");
                stream = start();
            }
            Err(e) => {
                failures += 1;
                let delay = WATCH_BACKOFF.delay(failures);
                tracing::warn!(kind, error = %e, retry_in = ?delay, "watch failed; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Retry delays of a failing watch: short, so a tenant API server that comes back is followed
/// within seconds (its health probe reports it healthy about as soon).
const WATCH_BACKOFF: crate::queue::Backoff = crate::queue::Backoff {
    base: std::time::Duration::from_millis(200),
    cap: std::time::Duration::from_secs(5),
    max_retries: u32::MAX,
};

/// Whether a watch error means the server no longer has the history we asked for (410 Gone),
/// either as a watch event or as the answer to starting the watch.
pub fn history_expired(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::WatchError(s) => s.code == 410,
        watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::InitialListFailed(kube::Error::Api(s)) => s.code == 410,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn cm(ns: &str, name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    #[test]
    fn gone_means_relist() {
        let gone = kube::core::Status {
            code: 410,
            ..kube::core::Status::default()
        };
        assert!(history_expired(&watcher::Error::WatchError(Box::new(
            gone.clone()
        ))));
        assert!(history_expired(&watcher::Error::WatchStartFailed(
            kube::Error::Api(Box::new(gone))
        )));
        let other = kube::core::Status {
            code: 500,
            ..kube::core::Status::default()
        };
        assert!(!history_expired(&watcher::Error::WatchError(Box::new(
            other
        ))));
        assert!(!history_expired(&watcher::Error::NoResourceVersion));
    }

    #[test]
    fn store_indexes_by_namespace_and_reports_relist_removals() {
        let s: Store<ConfigMap> = Store::new();
        s.apply(cm("a", "1"));
        s.apply(cm("a", "2"));
        s.apply(cm("b", "1"));
        assert_eq!(s.len(), 3);
        assert_eq!(s.list_namespace("a").len(), 2);
        assert!(s.get("b", "1").is_some());
        let gone = s.replace(vec![cm("a", "1"), cm("c", "9")]);
        let mut gone: Vec<String> = gone
            .iter()
            .map(|c| format!("{}/{}", c.namespace().unwrap_or_default(), c.name_any()))
            .collect();
        gone.sort();
        assert_eq!(gone, vec!["a/2".to_string(), "b/1".to_string()]);
        assert!(s.remove("c", "9").is_some());
        assert!(s.list_namespace("c").is_empty());
        assert!(!s.is_synced());
    }
}
