//! How a store keeps one object. A typed object (a k8s-openapi `Pod` is about 10 KB of heap,
//! most of it empty `Option`s and small allocations) is kept as is for kinds with few objects.
//! Kinds with one object per pod keep the whole object as LZ4-compressed JSON, decoded only
//! when a reconcile needs it, beside a [`Brief`]: the few metadata fields and keys that routing
//! and the patrol read on every scan.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a packed store keeps unpacked of each object: the metadata its scans read and one
/// field of the object (see [`Packing`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Brief {
    /// Name, namespace, uid, resourceVersion, deletionTimestamp, and the labels and
    /// annotations among [`Packing::keys`]; the rest is only in the packed object.
    pub meta: ObjectMeta,
    /// The kind's scan field, e.g. the node of a tenant pod.
    pub extra: Option<Box<str>>,
}

/// How a kind is packed: what its scans read without decoding the object.
pub struct Packing<K> {
    /// The label and annotation keys kept in the [`Brief`].
    pub keys: &'static [&'static str],
    /// The field kept beside the metadata, e.g. `spec.nodeName` of tenant pods.
    pub extra: fn(&K) -> Option<String>,
}

impl<K> Packing<K> {
    /// The brief metadata of `meta`.
    fn brief(&self, meta: &ObjectMeta) -> ObjectMeta {
        let pick = |m: &Option<BTreeMap<String, String>>| {
            let kept: BTreeMap<String, String> = m
                .iter()
                .flatten()
                .filter(|(k, _)| self.keys.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (!kept.is_empty()).then_some(kept)
        };
        ObjectMeta {
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            deletion_timestamp: meta.deletion_timestamp.clone(),
            labels: pick(&meta.labels),
            annotations: pick(&meta.annotations),
            ..ObjectMeta::default()
        }
    }
}

impl<K> Clone for Packing<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Packing<K> {}

/// One stored object.
pub enum Slot<K> {
    /// Kept as the typed object.
    Typed(Arc<K>),
    /// Metadata typed, everything else as JSON without `metadata`.
    Packed {
        /// Metadata and the scan field.
        brief: Arc<Brief>,
        /// The object's JSON, LZ4-compressed (pods' JSON halves).
        body: Box<[u8]>,
    },
}

impl<K: Resource> Slot<K> {
    /// The object's metadata without decoding anything: for a packed object, its brief
    /// metadata (see [`Brief::meta`]).
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Slot::Typed(o) => o.meta(),
            Slot::Packed { brief, .. } => &brief.meta,
        }
    }
}

impl<K> Slot<K>
where
    K: Resource + Serialize + DeserializeOwned,
{
    /// Packs `obj` as `packing` says; also gives back the object itself (the watch handler's).
    pub fn pack(obj: K, packing: Option<Packing<K>>) -> (Self, Arc<K>) {
        let Some(packing) = packing else {
            let obj = Arc::new(obj);
            return (Slot::Typed(Arc::clone(&obj)), obj);
        };
        let body = match serde_json::to_vec(&obj) {
            Ok(json) => lz4_flex::compress_prepend_size(&json).into_boxed_slice(),
            Err(e) => {
                // Serializing a decoded API object cannot fail; keep it typed if it ever does.
                tracing::error!(error = %e, "cannot pack a cached object; keeping it typed");
                let obj = Arc::new(obj);
                return (Slot::Typed(Arc::clone(&obj)), obj);
            }
        };
        let brief = Arc::new(Brief {
            meta: packing.brief(obj.meta()),
            extra: (packing.extra)(&obj).map(String::into_boxed_str),
        });
        (Slot::Packed { brief, body }, Arc::new(obj))
    }

    /// The whole object (decoded when packed).
    pub fn object(&self) -> Option<Arc<K>> {
        match self {
            Slot::Typed(o) => Some(Arc::clone(o)),
            Slot::Packed { body, .. } => match unpack::<K>(body) {
                Ok(obj) => Some(Arc::new(obj)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot unpack a cached object");
                    None
                }
            },
        }
    }

    /// Metadata and scan field (a copy of the metadata when kept typed).
    pub fn brief(&self) -> Arc<Brief> {
        match self {
            Slot::Typed(o) => Arc::new(Brief {
                meta: o.meta().clone(),
                extra: None,
            }),
            Slot::Packed { brief, .. } => Arc::clone(brief),
        }
    }
}

/// Decompresses and decodes a packed body.
fn unpack<K: DeserializeOwned>(body: &[u8]) -> Result<K, String> {
    let json = lz4_flex::decompress_size_prepended(body).map_err(|e| e.to_string())?;
    serde_json::from_slice(&json).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus};

    use super::*;

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("app".into()),
                uid: Some("u1".into()),
                resource_version: Some("7".into()),
                labels: Some([("a".to_string(), "b".to_string())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                containers: vec![Container {
                    name: "c".into(),
                    image: Some("nginx".into()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                ..PodStatus::default()
            }),
        }
    }

    fn node_of(p: &Pod) -> Option<String> {
        p.spec.as_ref().and_then(|s| s.node_name.clone())
    }

    #[test]
    fn a_packed_object_unpacks_to_the_same_object() {
        let packing = Packing {
            keys: &["kept"],
            extra: node_of,
        };
        let mut p = pod();
        p.metadata.annotations = Some([("kept".to_string(), "1".to_string())].into());
        p.metadata.generate_name = Some("we".into());
        let (slot, back) = Slot::pack(p.clone(), Some(packing));
        assert_eq!(*back, p);
        assert!(matches!(slot, Slot::Packed { .. }));
        assert_eq!(slot.object().as_deref(), Some(&p));
        let brief = slot.brief();
        assert_eq!(brief.extra.as_deref(), Some("n1"));
        // The brief keeps identity, version and the listed keys only.
        assert_eq!(
            brief.meta,
            ObjectMeta {
                name: Some("web".into()),
                namespace: Some("app".into()),
                uid: Some("u1".into()),
                resource_version: Some("7".into()),
                annotations: p.metadata.annotations.clone(),
                ..ObjectMeta::default()
            }
        );
    }

    #[test]
    fn a_typed_slot_shares_the_object() {
        let (slot, back) = Slot::<Pod>::pack(pod(), None);
        let Slot::Typed(kept) = &slot else {
            panic!("typed expected");
        };
        assert!(Arc::ptr_eq(kept, &back));
        assert_eq!(slot.brief().meta, pod().metadata);
    }
}
