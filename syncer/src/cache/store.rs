//! A store of one kind's objects by namespace and name, kept typed or packed (see
//! [`super::packed`]). The metadata readers (`brief*`, `*meta*`) see, for a packed store, the
//! brief metadata only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::packed::{Brief, Packing, Slot};

type Map<K> = HashMap<String, HashMap<String, Slot<K>>>;

/// Objects of one kind, by namespace (empty for cluster-scoped) and name.
pub struct Store<K> {
    map: RwLock<Map<K>>,
    packing: Option<Packing<K>>,
    synced: AtomicBool,
    synced_tx: watch::Sender<bool>,
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Store {
            map: RwLock::new(HashMap::new()),
            packing: None,
            synced: AtomicBool::new(false),
            synced_tx: watch::channel(false).0,
        }
    }
}

fn key(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl<K> Store<K>
where
    K: Resource + Serialize + DeserializeOwned,
{
    /// An empty, unsynced store keeping typed objects.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty, unsynced store keeping objects packed (for kinds with one object per pod).
    pub fn packed(packing: Packing<K>) -> Self {
        Store {
            packing: Some(packing),
            ..Self::default()
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Map<K>> {
        // Writers never leave the map half-updated, so a poisoned lock is still consistent.
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Map<K>> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }

    fn collect<T>(&self, namespace: Option<&str>, f: impl Fn(&Slot<K>) -> Option<T>) -> Vec<T> {
        let map = self.read();
        match namespace {
            Some(ns) => map
                .get(ns)
                .map(|m| m.values().filter_map(&f).collect())
                .unwrap_or_default(),
            None => map
                .values()
                .flat_map(|m| m.values())
                .filter_map(f)
                .collect(),
        }
    }

    /// The object `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.read().get(namespace)?.get(name)?.object()
    }

    /// The metadata (and scan field) of `namespace/name`, without decoding a packed object.
    pub fn brief(&self, namespace: &str, name: &str) -> Option<Arc<Brief>> {
        Some(self.read().get(namespace)?.get(name)?.brief())
    }

    /// What `f` reads of the metadata of `namespace/name`.
    pub fn with_meta<T>(
        &self,
        namespace: &str,
        name: &str,
        f: impl Fn(&ObjectMeta) -> T,
    ) -> Option<T> {
        Some(f(self.read().get(namespace)?.get(name)?.meta()))
    }

    /// Every object in `namespace`.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.collect(Some(namespace), Slot::object)
    }

    /// Every object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.collect(None, Slot::object)
    }

    /// The metadata (and scan field) of every object in `namespace`.
    pub fn briefs_in(&self, namespace: &str) -> Vec<Arc<Brief>> {
        self.collect(Some(namespace), |s| Some(s.brief()))
    }

    /// The metadata (and scan field) of every object.
    pub fn briefs(&self) -> Vec<Arc<Brief>> {
        self.collect(None, |s| Some(s.brief()))
    }

    /// What `f` reads of every object's metadata.
    pub fn map_meta<T>(&self, f: impl Fn(&ObjectMeta) -> T) -> Vec<T> {
        self.collect(None, |s| Some(f(s.meta())))
    }

    /// What `f` reads of the metadata of every object in `namespace`.
    pub fn map_meta_in<T>(&self, namespace: &str, f: impl Fn(&ObjectMeta) -> T) -> Vec<T> {
        self.collect(Some(namespace), |s| Some(f(s.meta())))
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

    /// Inserts or replaces an object; gives it back shared.
    pub fn apply(&self, obj: K) -> Arc<K> {
        let (ns, name) = key(obj.meta());
        let (slot, obj) = Slot::pack(obj, self.packing);
        self.write().entry(ns).or_default().insert(name, slot);
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
        old?.object()
    }

    /// Replaces the whole content (after a relist) and returns the objects that disappeared.
    pub fn replace(&self, objs: Vec<K>) -> Vec<Arc<K>> {
        let mut fresh: Map<K> = HashMap::new();
        for obj in objs {
            let (ns, name) = key(obj.meta());
            let (slot, _) = Slot::pack(obj, self.packing);
            fresh.entry(ns).or_default().insert(name, slot);
        }
        let mut map = self.write();
        let old = std::mem::replace(&mut *map, fresh);
        let mut gone = Vec::new();
        for (ns, objs) in old {
            for (name, slot) in objs {
                if !map.get(&ns).is_some_and(|m| m.contains_key(&name)) {
                    gone.extend(slot.object());
                }
            }
        }
        gone
    }

    /// Marks the initial list as loaded.
    pub(super) fn mark_synced(&self) {
        self.synced.store(true, Ordering::Release);
        self.synced_tx.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodSpec};
    use kube::ResourceExt;

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

    #[test]
    fn a_packed_store_answers_like_a_typed_one() {
        let pod = |ns: &str, name: &str, node: &str| Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                resource_version: Some("3".into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                ..PodSpec::default()
            }),
            status: None,
        };
        let s: Store<Pod> = Store::packed(Packing {
            keys: &[],
            extra: |p| p.spec.as_ref().and_then(|s| s.node_name.clone()),
        });
        s.apply(pod("a", "1", "n1"));
        s.apply(pod("a", "2", "n2"));
        assert_eq!(s.get("a", "1").as_deref(), Some(&pod("a", "1", "n1")));
        assert_eq!(
            s.brief("a", "2").and_then(|b| b.extra.clone()).as_deref(),
            Some("n2")
        );
        assert_eq!(
            s.with_meta("a", "1", |m| m.resource_version.clone())
                .flatten()
                .as_deref(),
            Some("3")
        );
        let mut nodes: Vec<_> = s.briefs().iter().filter_map(|b| b.extra.clone()).collect();
        nodes.sort();
        assert_eq!(nodes, vec!["n1".into(), "n2".into()] as Vec<Box<str>>);
        assert_eq!(s.remove("a", "2").as_deref(), Some(&pod("a", "2", "n2")));
        assert_eq!(s.briefs_in("a").len(), 1);
    }
}
