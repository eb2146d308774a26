//! One cluster's caches: a [`Store`] per synced kind, found by type (for code that knows the
//! kind) or by [`Resource`] (for generic code that only has a work key). Built once from the
//! resource table, then read-only, so lookups take no lock.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource as KubeResource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::Store;
use crate::cache::packed::Packing;
use crate::queue::Resource;

/// What generic code may ask of a store without knowing its kind.
pub trait AnyStore: Send + Sync {
    /// Whether the initial list has been loaded.
    fn is_synced(&self) -> bool;
    /// `(namespace, name)` of every object.
    fn keys(&self) -> Vec<(String, String)>;
    /// The object `namespace/name` as an event's involved object.
    fn object_ref(&self, namespace: &str, name: &str) -> Option<ObjectReference>;
    /// Whether `namespace/name` exists, is not being deleted and (unless `uid` is empty) has
    /// that uid.
    fn is_live(&self, namespace: &str, name: &str, uid: &str) -> bool;
}

impl<K> AnyStore for Store<K>
where
    K: KubeResource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn is_synced(&self) -> bool {
        Store::<K>::is_synced(self)
    }

    fn keys(&self) -> Vec<(String, String)> {
        self.map_meta(|m| {
            (
                m.namespace.clone().unwrap_or_default(),
                m.name.clone().unwrap_or_default(),
            )
        })
    }

    fn object_ref(&self, namespace: &str, name: &str) -> Option<ObjectReference> {
        let uid = self.with_meta(namespace, name, |m| m.uid.clone())?;
        Some(ObjectReference {
            api_version: Some(K::api_version(&()).into_owned()),
            kind: Some(K::kind(&()).into_owned()),
            namespace: Some(namespace.to_string()),
            name: Some(name.to_string()),
            uid,
            ..ObjectReference::default()
        })
    }

    fn is_live(&self, namespace: &str, name: &str, uid: &str) -> bool {
        self.with_meta(namespace, name, |m| {
            m.deletion_timestamp.is_none() && (uid.is_empty() || m.uid.as_deref() == Some(uid))
        })
        .unwrap_or(false)
    }
}

/// Hashes a `TypeId` by the integer it already is.
#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

type ByType = HashMap<TypeId, Box<dyn Any + Send + Sync>, BuildHasherDefault<TypeIdHasher>>;

/// The caches of one cluster (a tenant's, or the super cluster's).
#[derive(Default)]
pub struct Stores {
    by_type: ByType,
    by_resource: HashMap<Resource, Arc<dyn AnyStore>>,
    /// Stores that must be synced before the cluster counts as synced.
    required: Vec<Arc<dyn AnyStore>>,
}

impl Stores {
    /// No stores.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the store of kind `K` under `resource` (a kind registered twice keeps one store);
    /// `required` stores count for [`Stores::synced`].
    pub fn add<K>(&mut self, resource: Resource, required: bool)
    where
        K: KubeResource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        self.insert(resource, required, Store::<K>::new);
    }

    /// Adds a packed store of kind `K` (see [`crate::cache::packed`]), for kinds with one
    /// object per pod.
    pub fn add_packed<K>(&mut self, resource: Resource, required: bool, packing: Packing<K>)
    where
        K: KubeResource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        self.insert(resource, required, || Store::<K>::packed(packing));
    }

    fn insert<K>(&mut self, resource: Resource, required: bool, make: impl FnOnce() -> Store<K>)
    where
        K: KubeResource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let store = self
            .by_type
            .entry(TypeId::of::<K>())
            .or_insert_with(|| Box::new(Arc::new(make())));
        let Some(store) = store.downcast_ref::<Arc<Store<K>>>() else {
            return;
        };
        let dynamic: Arc<dyn AnyStore> = store.clone();
        if required {
            self.required.push(Arc::clone(&dynamic));
        }
        self.by_resource.insert(resource, dynamic);
    }

    /// The store of kind `K`.
    ///
    /// # Panics
    /// When no resource registered it: a programming error that every test run shows.
    pub fn get<K: Send + Sync + 'static>(&self) -> &Arc<Store<K>> {
        match self
            .by_type
            .get(&TypeId::of::<K>())
            .and_then(|s| s.downcast_ref::<Arc<Store<K>>>())
        {
            Some(s) => s,
            None => panic!(
                "no store for {} registered in the resource table",
                std::any::type_name::<K>()
            ),
        }
    }

    /// The store of `resource`, when one is registered.
    pub fn of(&self, resource: Resource) -> Option<&Arc<dyn AnyStore>> {
        self.by_resource.get(&resource)
    }

    /// Whether every required store has loaded its initial list.
    pub fn synced(&self) -> bool {
        self.required.iter().all(|s| s.is_synced())
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    const CONFIGMAPS: Resource = Resource::namespaced("configmaps");
    const SECRETS: Resource = Resource::namespaced("secrets");

    #[test]
    fn stores_are_found_by_type_and_by_resource() {
        let mut s = Stores::new();
        s.add::<ConfigMap>(CONFIGMAPS, true);
        s.add::<Secret>(SECRETS, false);
        s.get::<ConfigMap>().apply(ConfigMap {
            metadata: ObjectMeta {
                name: Some("cfg".into()),
                namespace: Some("ns".into()),
                uid: Some("u1".into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        });
        let dynamic = s.of(CONFIGMAPS).expect("registered");
        assert_eq!(dynamic.keys(), vec![("ns".to_string(), "cfg".to_string())]);
        let r = dynamic.object_ref("ns", "cfg").expect("ref");
        assert_eq!(r.kind.as_deref(), Some("ConfigMap"));
        assert_eq!(r.uid.as_deref(), Some("u1"));
        assert!(dynamic.is_live("ns", "cfg", "u1"));
        assert!(!dynamic.is_live("ns", "cfg", "u2"));
        assert!(dynamic.is_live("ns", "cfg", ""));
        // Only the required configmaps count, and they are not synced yet.
        assert!(!s.synced());
        assert!(s.get::<Secret>().is_empty());
    }
}
