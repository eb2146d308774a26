//! The object store: every object in memory (the serving cache), one global resourceVersion
//! sequence, a bounded per-resource event history for watches, and a durable backend below.
//!
//! Locking: one mutex guards the maps and histories, held only for in-memory work (never across
//! I/O, never while a watcher writes to its socket). Writes are applied in memory under the lock
//! and queued to the backend in resourceVersion order; a client's write is acknowledged, and its
//! event released to watchers, only once the backend reports it durable.

pub mod backend;
mod durability;
pub mod object;
pub mod sqlite;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{Notify, watch};

pub use durability::Durability;

pub use backend::{Backend, BackendError, MemoryBackend, Record};
pub use object::StoredObject;

/// Default number of events kept per resource for watch resumption.
pub const DEFAULT_HISTORY: usize = 10_000;

/// Object key within a resource: (namespace, name), namespace "" when cluster-scoped.
pub type ObjKey = (Box<str>, Box<str>);

/// Kind of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl EventType {
    /// Upstream's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, kept in the history.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened.
    pub kind: EventType,
    /// Namespace of the object.
    pub namespace: Box<str>,
    /// Name of the object.
    pub name: Box<str>,
    /// The new state (for deletes: the last state, with the deleting resourceVersion).
    pub object: Arc<StoredObject>,
    /// The previous state, for modifications and deletes.
    pub prev: Option<Arc<StoredObject>>,
}

impl Event {
    /// Resource version of the change.
    pub fn rv(&self) -> u64 {
        self.object.rv
    }
}

#[derive(Debug)]
struct ResourceState {
    objects: BTreeMap<ObjKey, Arc<StoredObject>>,
    history: VecDeque<Event>,
    /// Every event of this resource with rv > horizon is in `history`.
    horizon: u64,
    notify: Arc<Notify>,
}

impl ResourceState {
    fn new(horizon: u64) -> Self {
        ResourceState {
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            horizon,
            notify: Arc::new(Notify::new()),
        }
    }
}

#[derive(Debug)]
struct State {
    rv: u64,
    /// Resource version at start: no history reaches before it.
    start_rv: u64,
    resources: HashMap<String, ResourceState>,
}

impl State {
    fn resource(&mut self, key: &str) -> &mut ResourceState {
        let horizon = self.start_rv;
        self.resources
            .entry(key.to_string())
            .or_insert_with(|| ResourceState::new(horizon))
    }
}

/// What a write expects to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The object must not exist (create).
    Absent,
    /// The object must exist with exactly this resourceVersion.
    Version(u64),
    /// The object must exist (any version).
    Present,
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Create of an existing object.
    #[error("already exists")]
    AlreadyExists,
    /// The object is gone.
    #[error("not found")]
    NotFound,
    /// Resource version precondition failed.
    #[error("resource version conflict")]
    Conflict,
    /// The new object could not be serialized.
    #[error("serializing object: {0}")]
    Serialize(String),
}

/// Result of a committed write.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The stored new state (or, for deletes, the deleted state stamped with the delete's rv).
    pub object: Arc<StoredObject>,
    /// The write's resource version.
    pub rv: u64,
}

/// A consistent list snapshot.
#[derive(Debug)]
pub struct ListSnapshot {
    /// The objects in key order.
    pub items: Vec<Arc<StoredObject>>,
    /// Global resource version of the snapshot.
    pub rv: u64,
    /// Key to continue after, when the limit cut the list.
    pub next: Option<ObjKey>,
    /// Objects left after the cut (for `remainingItemCount`), when known.
    pub remaining: Option<usize>,
}

/// The in-memory store with its backend.
pub struct Store {
    state: Mutex<State>,
    backend: Arc<dyn Backend>,
    durable_tx: watch::Sender<Durability>,
    durable_rx: watch::Receiver<Durability>,
    history_limit: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// An in-memory store keeping `history` events per resource for watches.
    pub fn memory(history: usize) -> Arc<Self> {
        let (tx, rx) = watch::channel(Durability::default());
        Arc::new(Store::with_backend(
            Arc::new(MemoryBackend),
            tx,
            rx,
            history.max(1),
        ))
    }

    /// A store persisted in SQLite under `dir`, loaded with everything stored there;
    /// `index_fields` names the selectable fields of a storage key.
    pub fn sqlite(
        dir: &std::path::Path,
        history: usize,
        index_fields: &dyn Fn(&str) -> Vec<String>,
    ) -> Result<Arc<Self>, BackendError> {
        let (tx, rx) = watch::channel(Durability::default());
        let backend = sqlite::SqliteBackend::open(dir, tx.clone())?;
        let store = Store::with_backend(Arc::new(backend), tx, rx, history.max(1));
        store.load(index_fields)?;
        Ok(Arc::new(store))
    }

    fn with_backend(
        backend: Arc<dyn Backend>,
        durable_tx: watch::Sender<Durability>,
        durable_rx: watch::Receiver<Durability>,
        history_limit: usize,
    ) -> Self {
        Store {
            state: Mutex::new(State {
                rv: 0,
                start_rv: 0,
                resources: HashMap::new(),
            }),
            backend,
            durable_tx,
            durable_rx,
            history_limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic mid-update of plain maps; the data is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn load(&self, index_fields: &dyn Fn(&str) -> Vec<String>) -> Result<(), BackendError> {
        let loaded = self.backend.load()?;
        let mut st = self.lock();
        st.rv = loaded.rv;
        st.start_rv = loaded.rv;
        for r in loaded.records {
            let Some(data) = r.data else { continue };
            let obj = match serde_json::from_slice::<Value>(&data) {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(resource = %r.resource, name = %r.name, error = %e, "skipping unreadable stored object");
                    continue;
                }
            };
            let paths = index_fields(&r.resource);
            let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
            match StoredObject::new(r.rv, &obj, &paths) {
                Ok(so) => {
                    st.resource(&r.resource)
                        .objects
                        .insert((r.namespace.into(), r.name.into()), Arc::new(so));
                }
                Err(e) => tracing::error!(error = %e, "skipping stored object"),
            }
        }
        let rv = st.rv;
        for rs in st.resources.values_mut() {
            rs.horizon = rv;
        }
        drop(st);
        self.durable_tx.send_modify(|d| d.rv = rv);
        Ok(())
    }

    /// The current global resource version.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// Whether writes go to disk.
    pub fn is_durable(&self) -> bool {
        self.backend.is_durable()
    }

    /// Reads one object.
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Arc<StoredObject>> {
        let st = self.lock();
        st.resources
            .get(resource)?
            .objects
            .get(&(Box::from(namespace), Box::from(name)))
            .cloned()
    }

    /// Keys of the objects of `resource` (in `namespace`, when given), without decoding them.
    pub fn keys(&self, resource: &str, namespace: Option<&str>) -> Vec<ObjKey> {
        let st = self.lock();
        let Some(rs) = st.resources.get(resource) else {
            return Vec::new();
        };
        match namespace {
            Some(ns) => rs
                .objects
                .range::<ObjKey, _>((
                    Bound::Included((Box::from(ns), Box::from(""))),
                    Bound::Unbounded,
                ))
                .take_while(|(k, _)| &*k.0 == ns)
                .map(|(k, _)| k.clone())
                .collect(),
            None => rs.objects.keys().cloned().collect(),
        }
    }

    /// Lists objects of a resource (optionally one namespace), starting after `after`, keeping
    /// those `keep` accepts, at most `limit` of them.
    pub fn list<F>(
        &self,
        resource: &str,
        namespace: Option<&str>,
        after: Option<&ObjKey>,
        limit: Option<usize>,
        keep: F,
    ) -> ListSnapshot
    where
        F: Fn(&ObjKey, &StoredObject) -> bool,
    {
        let st = self.lock();
        let rv = st.rv;
        let Some(rs) = st.resources.get(resource) else {
            return ListSnapshot {
                items: Vec::new(),
                rv,
                next: None,
                remaining: None,
            };
        };
        let lower: Bound<ObjKey> = match (after, namespace) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(ns)) => Bound::Included((Box::from(ns), Box::from(""))),
            (None, None) => Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut last_returned: Option<&ObjKey> = None;
        let mut cut = false;
        let mut remaining = 0usize;
        for (key, obj) in rs.objects.range((lower, Bound::Unbounded)) {
            if let Some(ns) = namespace
                && key.0.as_ref() != ns
            {
                break;
            }
            if !keep(key, obj) {
                continue;
            }
            if cut {
                remaining += 1;
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                cut = true;
                remaining = 1;
                continue;
            }
            items.push(obj.clone());
            last_returned = Some(key);
        }
        ListSnapshot {
            items,
            rv,
            next: if cut { last_returned.cloned() } else { None },
            remaining: cut.then_some(remaining),
        }
    }

    /// Applies a write: `new = Some(obj)` creates or updates (the store stamps
    /// `metadata.resourceVersion`), `None` deletes. `expect` is checked atomically.
    pub fn commit(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        expect: Expect,
        new: Option<Value>,
        field_paths: &[&str],
    ) -> Result<Committed, StoreError> {
        let key: ObjKey = (namespace.into(), name.into());
        let mut st = self.lock();
        let rv = st.rv + 1;
        let history_limit = self.history_limit;
        let rs = st.resource(resource);
        let current = rs.objects.get(&key).cloned();
        match (&expect, &current) {
            (Expect::Absent, Some(_)) => return Err(StoreError::AlreadyExists),
            (Expect::Version(_) | Expect::Present, None) => return Err(StoreError::NotFound),
            (Expect::Version(v), Some(cur)) if cur.rv != *v => return Err(StoreError::Conflict),
            _ => {}
        }
        let (kind, stored, data) = match new {
            Some(mut obj) => {
                set_resource_version(&mut obj, rv);
                let so = StoredObject::new(rv, &obj, field_paths)
                    .map_err(|e| StoreError::Serialize(e.to_string()))?;
                let so = Arc::new(so);
                let kind = if current.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                rs.objects.insert(key.clone(), so.clone());
                let data = Some(so.json.clone());
                (kind, so, data)
            }
            None => {
                let Some(cur) = current.clone() else {
                    return Err(StoreError::NotFound);
                };
                rs.objects.remove(&key);
                let mut last = cur
                    .value()
                    .map_err(|e| StoreError::Serialize(e.to_string()))?;
                set_resource_version(&mut last, rv);
                let so = StoredObject::new(rv, &last, field_paths)
                    .map_err(|e| StoreError::Serialize(e.to_string()))?;
                (EventType::Deleted, Arc::new(so), None)
            }
        };
        rs.history.push_back(Event {
            kind,
            namespace: key.0.clone(),
            name: key.1.clone(),
            object: stored.clone(),
            prev: current,
        });
        while rs.history.len() > history_limit {
            if let Some(old) = rs.history.pop_front() {
                rs.horizon = old.rv();
            }
        }
        let notify = rs.notify.clone();
        st.rv = rv;
        // Queued under the lock so the backend sees writes in resourceVersion order.
        self.backend.submit(Record {
            resource: resource.to_string(),
            namespace: key.0.to_string(),
            name: key.1.to_string(),
            rv,
            data,
        });
        drop(st);
        if !self.backend.is_durable() {
            self.durable_tx.send_modify(|d| d.rv = d.rv.max(rv));
        }
        notify.notify_waiters();
        Ok(Committed { object: stored, rv })
    }

    /// Waits until the write with `rv` is durable.
    pub async fn wait_durable(&self, rv: u64) -> Result<(), String> {
        let mut rx = self.durable_rx.clone();
        let res = rx.wait_for(|d| d.rv >= rv || d.failed.is_some()).await;
        match res {
            Ok(d) => match &d.failed {
                Some(f) if d.rv < rv => Err(f.clone()),
                _ => Ok(()),
            },
            Err(_) => Err("storage writer stopped".to_string()),
        }
    }

    /// A receiver of durability progress (watchers only deliver durable events).
    pub fn durable(&self) -> watch::Receiver<Durability> {
        self.durable_rx.clone()
    }

    /// The notifier woken on every write to `resource`.
    pub fn notifier(&self, resource: &str) -> Arc<Notify> {
        self.lock().resource(resource).notify.clone()
    }

    /// Events of `resource` with `after < rv ≤ upto`, at most `max`; `Err(horizon)` when
    /// `after` is older than the history reaches.
    pub fn events_since(
        &self,
        resource: &str,
        after: u64,
        upto: u64,
        max: usize,
    ) -> Result<Vec<Event>, u64> {
        let mut st = self.lock();
        let rs = st.resource(resource);
        if after < rs.horizon {
            return Err(rs.horizon);
        }
        let start = rs.history.partition_point(|e| e.rv() <= after);
        Ok(rs
            .history
            .iter()
            .skip(start)
            .take_while(|e| e.rv() <= upto)
            .take(max)
            .cloned()
            .collect())
    }

    /// The newest resourceVersion at which any of `resources` changed (or could have: the
    /// store's start), so derived caches such as the RBAC index know when they are stale.
    pub fn last_write(&self, resources: &[&str]) -> u64 {
        let st = self.lock();
        resources
            .iter()
            .map(|r| match st.resources.get(*r) {
                Some(rs) => rs.history.back().map(Event::rv).unwrap_or(rs.horizon),
                None => st.start_rv,
            })
            .max()
            .unwrap_or(st.start_rv)
    }

    /// Every resource key that has objects (for controllers that scan everything).
    pub fn resources(&self) -> Vec<String> {
        self.lock().resources.keys().cloned().collect()
    }

    /// Number of objects per resource (for metrics).
    pub fn counts(&self) -> Vec<(String, usize)> {
        self.lock()
            .resources
            .iter()
            .map(|(k, v)| (k.clone(), v.objects.len()))
            .collect()
    }
}

/// Sets `metadata.resourceVersion`.
pub fn set_resource_version(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}
