//! `/pods` for a tenant: only its own super pods, shown as the tenant knows them (tenant
//! namespace, tenant uid and owners from the contract's annotations; super-only metadata gone).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

use crds::tenancy::{
    ANNOTATION_OWNER_REFERENCES, DEFAULT_OPAQUE_PREFIX, LABEL_VC_NAME, LABEL_VC_NAMESPACE,
    TenantOrigin, owned_by,
};

/// The tenant's view of one of its super pods; `None` when the pod is not the tenant's.
pub fn tenant_view(cluster_key: &str, pod: &Pod) -> Option<Pod> {
    let annotations = pod.metadata.annotations.as_ref()?;
    if !owned_by(annotations, cluster_key) {
        return None;
    }
    let origin = TenantOrigin::from_annotations(annotations)?;
    let owners: Vec<OwnerReference> = annotations
        .get(ANNOTATION_OWNER_REFERENCES)
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or_default();
    let mut out = pod.clone();
    let meta = &mut out.metadata;
    meta.namespace = Some(origin.namespace);
    meta.uid = origin.uid;
    meta.owner_references = (!owners.is_empty()).then_some(owners);
    meta.managed_fields = None;
    let opaque = format!("{DEFAULT_OPAQUE_PREFIX}/");
    if let Some(a) = meta.annotations.as_mut() {
        a.retain(|k, _| !k.starts_with(&opaque));
    }
    if let Some(l) = meta.labels.as_mut() {
        l.retain(|k, _| k != LABEL_VC_NAME && k != LABEL_VC_NAMESPACE);
    }
    Some(out)
}

/// The kubelet's `/pods` answer (a `v1 PodList`) holding the tenant's view of its pods.
pub fn tenant_pod_list(cluster_key: &str, pods: &[Pod]) -> Value {
    let items: Vec<Pod> = pods
        .iter()
        .filter_map(|p| tenant_view(cluster_key, p))
        .collect();
    json!({
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crds::tenancy::{ANNOTATION_CLUSTER, ANNOTATION_NAMESPACE, ANNOTATION_UID};

    fn pod(cluster: &str, name: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(format!("{cluster}-app")),
                uid: Some("super-uid".into()),
                labels: Some(BTreeMap::from([
                    ("app".to_string(), "web".to_string()),
                    (LABEL_VC_NAME.to_string(), "vc".to_string()),
                ])),
                annotations: Some(BTreeMap::from([
                    (ANNOTATION_CLUSTER.to_string(), cluster.to_string()),
                    (ANNOTATION_NAMESPACE.to_string(), "app".to_string()),
                    (ANNOTATION_UID.to_string(), "tenant-uid".to_string()),
                    (
                        ANNOTATION_OWNER_REFERENCES.to_string(),
                        r#"[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"rs-uid"}]"#
                            .to_string(),
                    ),
                    ("note".to_string(), "kept".to_string()),
                ])),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn lists_only_own_pods_in_tenant_terms() {
        let pods = vec![pod("ta", "mine"), pod("tb", "theirs"), Pod::default()];
        let list = tenant_pod_list("ta", &pods);
        assert_eq!(list["kind"], "PodList");
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        let p = &items[0]["metadata"];
        assert_eq!(p["name"], "mine");
        assert_eq!(p["namespace"], "app");
        assert_eq!(p["uid"], "tenant-uid");
        assert_eq!(p["ownerReferences"][0]["name"], "rs");
        assert_eq!(p["annotations"], json!({"note": "kept"}));
        assert_eq!(p["labels"], json!({"app": "web"}));
    }
}
