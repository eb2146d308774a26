//! Super objects labelled `tenancy.x-k8s.io/super.public=true` (StorageClasses,
//! PriorityClasses, PersistentVolumes), broadcast read-only to every tenant.

use crds::tenancy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::kv;

/// Whether a super object is public.
pub fn is_public(meta: &ObjectMeta) -> bool {
    kv(&meta.labels)
        .get(tenancy::LABEL_SUPER_PUBLIC)
        .is_some_and(|v| v == "true")
}

/// Metadata of the tenant copy of a public super object: name, labels, annotations.
pub fn tenant_meta(pmeta: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: pmeta.name.clone(),
        labels: pmeta.labels.clone(),
        annotations: pmeta.annotations.clone().map(|mut a| {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
            a
        }),
        ..ObjectMeta::default()
    }
}

/// A public super object with its server-owned metadata stripped, ready to create or compare
/// in a tenant.
pub fn strip<K: kube::Resource>(mut obj: K) -> K {
    let meta = tenant_meta(obj.meta());
    *obj.meta_mut() = meta;
    obj
}

/// Whether a tenant copy differs from the public super object (metadata and body).
pub fn differs<K: kube::Resource + serde::Serialize + Clone>(public: &K, tenant: &K) -> bool {
    let a = strip(public.clone());
    let b = strip(tenant.clone());
    serde_json::to_value(&a).ok() != serde_json::to_value(&b).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::storage::v1::StorageClass;

    use super::*;

    #[test]
    fn public_label_and_strip() {
        let sc = StorageClass {
            metadata: ObjectMeta {
                name: Some("fast".into()),
                uid: Some("u".into()),
                resource_version: Some("3".into()),
                labels: Some(BTreeMap::from([(
                    tenancy::LABEL_SUPER_PUBLIC.into(),
                    "true".into(),
                )])),
                ..ObjectMeta::default()
            },
            provisioner: "csi.example".into(),
            ..StorageClass::default()
        };
        assert!(is_public(&sc.metadata));
        let s = strip(sc.clone());
        assert_eq!(s.metadata.uid, None);
        assert_eq!(s.provisioner, "csi.example");
        let mut tenant = s.clone();
        tenant.metadata.uid = Some("tenant-uid".into());
        assert!(!differs(&sc, &tenant));
        tenant.provisioner = "other".into();
        assert!(differs(&sc, &tenant));
    }
}
