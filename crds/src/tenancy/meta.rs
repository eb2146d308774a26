//! Metadata rules: which labels/annotations go down to super objects, which come back up, the
//! contract's annotations on every super object, and the reverse lookup from those annotations.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::error::ContractError;
use super::keys::*;
use super::naming::{cluster_key, label_value};
use crate::VirtualCluster;

/// The identity of a tenant as recorded on every super object it owns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantId {
    /// The tenant's cluster key (root namespace in the super cluster).
    pub cluster_key: String,
    /// Name of the VirtualCluster.
    pub vc_name: String,
    /// Namespace of the VirtualCluster.
    pub vc_namespace: String,
    /// Uid of the VirtualCluster.
    pub vc_uid: String,
}

impl TenantId {
    /// The identity of the tenant a VirtualCluster describes.
    pub fn from_vc(vc: &VirtualCluster) -> Result<Self, ContractError> {
        Ok(TenantId {
            cluster_key: cluster_key(vc)?,
            vc_name: vc
                .metadata
                .name
                .clone()
                .ok_or(ContractError::MissingField("VirtualCluster metadata.name"))?,
            vc_namespace: vc
                .metadata
                .namespace
                .clone()
                .ok_or(ContractError::MissingField(
                    "VirtualCluster metadata.namespace",
                ))?,
            vc_uid: vc
                .metadata
                .uid
                .clone()
                .ok_or(ContractError::MissingField("VirtualCluster metadata.uid"))?,
        })
    }

    /// Labels put on every super object of this tenant (they let the syncer watch only what it
    /// manages).
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_VC_NAME.to_string(), label_value(&self.vc_name)),
            (LABEL_VC_NAMESPACE.to_string(), self.vc_namespace.clone()),
        ])
    }

    /// Annotations put on a namespaced super object copied from a tenant object.
    pub fn object_annotations(
        &self,
        tenant_uid: &str,
        tenant_namespace: &str,
        owner_references: &[OwnerReference],
    ) -> BTreeMap<String, String> {
        let owners = serde_json::to_string(owner_references).unwrap_or_else(|_| "[]".to_string());
        BTreeMap::from([
            (ANNOTATION_CLUSTER.to_string(), self.cluster_key.clone()),
            (ANNOTATION_UID.to_string(), tenant_uid.to_string()),
            (
                ANNOTATION_NAMESPACE.to_string(),
                tenant_namespace.to_string(),
            ),
            (ANNOTATION_OWNER_REFERENCES.to_string(), owners),
            (LABEL_VC_NAME.to_string(), self.vc_name.clone()),
            (LABEL_VC_NAMESPACE.to_string(), self.vc_namespace.clone()),
        ])
    }

    /// Annotations put on the super namespace copied from tenant namespace `tenant_ns`.
    pub fn namespace_annotations(
        &self,
        tenant_uid: &str,
        tenant_ns: &str,
    ) -> BTreeMap<String, String> {
        BTreeMap::from([
            (ANNOTATION_CLUSTER.to_string(), self.cluster_key.clone()),
            (ANNOTATION_UID.to_string(), tenant_uid.to_string()),
            (ANNOTATION_NAMESPACE.to_string(), tenant_ns.to_string()),
            (LABEL_VC_NAME.to_string(), self.vc_name.clone()),
            (LABEL_VC_NAMESPACE.to_string(), self.vc_namespace.clone()),
            (ANNOTATION_VC_UID.to_string(), self.vc_uid.clone()),
        ])
    }

    /// Annotations of the tenant's root namespace (the cluster key itself).
    pub fn root_namespace_annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (ANNOTATION_CLUSTER.to_string(), self.cluster_key.clone()),
            (LABEL_VC_NAME.to_string(), self.vc_name.clone()),
            (LABEL_VC_NAMESPACE.to_string(), self.vc_namespace.clone()),
            (ANNOTATION_VC_UID.to_string(), self.vc_uid.clone()),
            (ANNOTATION_VC_ROOT_NS.to_string(), "true".to_string()),
        ])
    }
}

/// Where a super object came from, read from its annotations (never from its name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantOrigin {
    /// Cluster key of the owning tenant.
    pub cluster_key: String,
    /// Namespace of the tenant object (for a namespace: its tenant name).
    pub namespace: String,
    /// Uid of the tenant object.
    pub uid: Option<String>,
    /// Name of the owning VirtualCluster, when recorded.
    pub vc_name: Option<String>,
    /// Namespace of the owning VirtualCluster, when recorded.
    pub vc_namespace: Option<String>,
}

impl TenantOrigin {
    /// Reads the origin of a super object from its annotations; `None` when it is not a synced
    /// object.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Option<Self> {
        let cluster_key = annotations
            .get(ANNOTATION_CLUSTER)
            .filter(|v| !v.is_empty())?;
        let namespace = annotations.get(ANNOTATION_NAMESPACE)?;
        Some(TenantOrigin {
            cluster_key: cluster_key.clone(),
            namespace: namespace.clone(),
            uid: annotations
                .get(ANNOTATION_UID)
                .filter(|v| !v.is_empty())
                .cloned(),
            vc_name: annotations.get(LABEL_VC_NAME).cloned(),
            vc_namespace: annotations.get(LABEL_VC_NAMESPACE).cloned(),
        })
    }

    /// Whether the object belongs to the tenant with `cluster_key`.
    pub fn belongs_to(&self, cluster_key: &str) -> bool {
        self.cluster_key == cluster_key
    }
}

/// Whether a super object's annotations say it belongs to `cluster_key`.
pub fn owned_by(annotations: &BTreeMap<String, String>, cluster_key: &str) -> bool {
    annotations.get(ANNOTATION_CLUSTER).map(String::as_str) == Some(cluster_key)
}

/// The label/annotation rules of one tenant, from its VirtualCluster's prefixes plus defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaRules {
    opaque: Vec<String>,
    transparent: Vec<String>,
}

impl Default for MetaRules {
    fn default() -> Self {
        MetaRules::new(&[], &[])
    }
}

impl MetaRules {
    /// Rules with extra opaque and transparent prefixes on top of the defaults.
    pub fn new(opaque: &[String], transparent: &[String]) -> Self {
        let mut o: Vec<String> = opaque.iter().filter(|p| !p.is_empty()).cloned().collect();
        o.push(DEFAULT_OPAQUE_PREFIX.to_string());
        let mut t: Vec<String> = transparent
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect();
        t.push(DEFAULT_TRANSPARENT_PREFIX.to_string());
        o.sort();
        o.dedup();
        t.sort();
        t.dedup();
        MetaRules {
            opaque: o,
            transparent: t,
        }
    }

    /// The rules of the tenant a VirtualCluster describes.
    pub fn for_vc(vc: &VirtualCluster) -> Self {
        MetaRules::new(
            &vc.spec.opaque_meta_prefixes,
            &vc.spec.transparent_meta_prefixes,
        )
    }

    /// Whether the super cluster owns `key`: tenants cannot set it and sync never overwrites it.
    pub fn is_super_owned(&self, key: &str) -> bool {
        self.is_transparent(key) || self.opaque.iter().any(|p| key.starts_with(p.as_str()))
    }

    /// Whether `key` on a super object is copied up to the tenant object.
    pub fn is_transparent(&self, key: &str) -> bool {
        self.transparent.iter().any(|p| key.starts_with(p.as_str()))
    }

    /// The labels or annotations a super object gets from its tenant object: the tenant's own
    /// keys, plus the super-owned keys the super object already has.
    pub fn merge_downward(
        &self,
        tenant: &BTreeMap<String, String>,
        existing_super: Option<&BTreeMap<String, String>>,
    ) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = tenant
            .iter()
            .filter(|(k, _)| !self.is_super_owned(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(existing) = existing_super {
            out.extend(
                existing
                    .iter()
                    .filter(|(k, _)| self.is_super_owned(k))
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        out
    }

    /// The tenant object's labels or annotations after copying up the transparent keys of its
    /// super object. Keys the tenant has of its own are kept.
    pub fn merge_upward(
        &self,
        super_kv: &BTreeMap<String, String>,
        tenant: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut out = tenant.clone();
        out.extend(
            super_kv
                .iter()
                .filter(|(k, _)| self.is_transparent(k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        out
    }

    /// A label selector (`matchLabels`-style map) as it must appear on a super object: the keys a
    /// super pod cannot carry are dropped, so the selector still matches every super pod whose
    /// tenant pod the tenant selector matched.
    pub fn selector_downward(
        &self,
        selector: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        selector
            .iter()
            .filter(|(k, _)| !self.is_super_owned(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Whether a selector requirement on `key` survives on super objects.
    pub fn selector_key_kept(&self, key: &str) -> bool {
        !self.is_super_owned(key)
    }
}
