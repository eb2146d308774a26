//! Pure conversions between tenant objects (vObj) and their super copies (pObj): the desired
//! super object, the difference to write, and what flows back up. One module per resource.
//!
//! Nothing here talks to a server; every function takes cached objects and returns objects.

pub mod address;
pub mod configmap;
pub mod endpoints;
pub mod event;
pub mod ingress;
pub mod namespace;
pub mod node;
pub mod placement;
pub mod pod;
pub mod policy;
pub mod pss;
pub mod public;
pub mod pvc;
pub mod secret;
pub mod service;
pub mod serviceaccount;

use std::collections::BTreeMap;

use crds::tenancy::{self, ContractError, MetaRules, TenantId};
use crds::{Placement, PodPolicy, ServicePolicy, VirtualCluster};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Why a tenant object cannot be synced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The contract cannot map a name (invalid input).
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// The tenant asked for something the syncer does not support (e.g. `spec.nodeName`).
    #[error("{0}")]
    NotSupported(String),
    /// The VirtualCluster's isolation profile forbids it.
    #[error("{detail} (rule {rule}; allowed only by the VirtualCluster's {allow})")]
    PolicyViolation {
        /// The rule, e.g. `privileged` or `tolerations` (the `rule` label of
        /// `syncer_policy_refusals_total`).
        rule: &'static str,
        /// The VirtualCluster field that would allow it, e.g. `spec.podPolicy.allowPrivileged`.
        allow: String,
        /// What in the object broke it, with the field path.
        detail: String,
    },
    /// Its super name is taken by an object that is not its copy (another tenant object, or
    /// one the syncer made for itself).
    #[error("{0}")]
    NameConflict(String),
    /// The object is malformed for sync (e.g. an unparsable quantity).
    #[error("{0}")]
    Invalid(String),
    /// Something the object depends on is not synced yet (retry later).
    #[error("{0}")]
    NotReady(String),
}

impl ConvertError {
    /// The reason of the Warning event recorded on the tenant object.
    pub fn reason(&self) -> &'static str {
        match self {
            ConvertError::Contract(_) | ConvertError::Invalid(_) => "InvalidSpec",
            ConvertError::NotSupported(_) | ConvertError::NameConflict(_) => "NotSupported",
            ConvertError::PolicyViolation { .. } => "PolicyViolation",
            ConvertError::NotReady(_) => "Pending",
        }
    }

    /// The rule a refusal counts under in `syncer_policy_refusals_total`; `None` for errors
    /// that are not refusals.
    pub fn refusal_rule(&self) -> Option<&'static str> {
        match self {
            ConvertError::PolicyViolation { rule, .. } => Some(rule),
            ConvertError::NotSupported(_) => Some("notSupported"),
            ConvertError::NameConflict(_) => Some("nameConflict"),
            _ => None,
        }
    }

    /// Whether retrying without a change to the object can help.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, ConvertError::NotReady(_))
    }
}

/// What the syncer knows about one tenant that every conversion needs.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantCtx {
    /// Identity written on every super object.
    pub id: TenantId,
    /// Label/annotation rules.
    pub rules: MetaRules,
    /// Node placement of the tenant's pods.
    pub placement: Placement,
    /// What the tenant's pods may ask for.
    pub pod_policy: PodPolicy,
    /// What the tenant's services and endpoints may claim.
    pub service_policy: ServicePolicy,
    /// The tenant's DNS domain.
    pub cluster_domain: String,
}

impl TenantCtx {
    /// The context of the tenant a VirtualCluster describes.
    pub fn from_vc(vc: &VirtualCluster) -> Result<Self, ContractError> {
        Ok(TenantCtx {
            id: TenantId::from_vc(vc)?,
            rules: MetaRules::for_vc(vc),
            placement: vc.spec.placement.clone().unwrap_or_default(),
            pod_policy: vc.spec.pod_policy.clone().unwrap_or_default(),
            service_policy: vc.spec.service_policy.clone().unwrap_or_default(),
            cluster_domain: vc.spec.cluster_domain().to_string(),
        })
    }

    /// The super namespace of tenant namespace `ns`.
    pub fn super_ns(&self, ns: &str) -> Result<String, ContractError> {
        tenancy::super_namespace(&self.id.cluster_key, ns)
    }
}

/// A change to write to an existing object.
#[derive(Clone, Debug, PartialEq)]
pub enum Change<T> {
    /// Already as desired.
    None,
    /// Replace with this object (carries the existing uid and resourceVersion as preconditions).
    Update(T),
    /// Immutable fields differ: delete the existing object and create this one.
    Recreate(T),
}

impl<T> Change<T> {
    /// Whether nothing needs writing.
    pub fn is_none(&self) -> bool {
        matches!(self, Change::None)
    }
}

/// Metadata of the super copy of a namespaced tenant object: same name, the super namespace,
/// the tenant's labels/annotations minus super-owned keys (plus the super-owned keys the existing
/// copy already has), and the contract's labels and annotations.
pub fn super_meta(
    ctx: &TenantCtx,
    vmeta: &ObjectMeta,
    existing: Option<&ObjectMeta>,
) -> Result<ObjectMeta, ConvertError> {
    let tenant_ns = vmeta
        .namespace
        .as_deref()
        .ok_or(ContractError::MissingField("metadata.namespace"))?;
    let uid = vmeta
        .uid
        .as_deref()
        .ok_or(ContractError::MissingField("metadata.uid"))?;
    let owners = vmeta.owner_references.clone().unwrap_or_default();
    let mut annotations = ctx.rules.merge_downward(
        &kv(&vmeta.annotations),
        existing.and_then(|m| m.annotations.as_ref()),
    );
    annotations.extend(ctx.id.object_annotations(uid, tenant_ns, &owners));
    let mut labels = ctx
        .rules
        .merge_downward(&kv(&vmeta.labels), existing.and_then(|m| m.labels.as_ref()));
    labels.extend(ctx.id.labels());
    Ok(ObjectMeta {
        name: vmeta.name.clone(),
        namespace: Some(ctx.super_ns(tenant_ns)?),
        labels: Some(labels),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    })
}

/// Whether the labels and annotations of two objects are equal (absent = empty).
pub fn same_labels_annotations(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    kv(&a.labels) == kv(&b.labels) && kv(&a.annotations) == kv(&b.annotations)
}

/// `existing` with the labels and annotations of `desired` (uid and resourceVersion kept, so a
/// write of the result is preconditioned on them).
pub fn with_meta_of(existing: &ObjectMeta, desired: &ObjectMeta) -> ObjectMeta {
    let mut m = existing.clone();
    m.labels = desired.labels.clone();
    m.annotations = desired.annotations.clone();
    m.managed_fields = None;
    m
}

/// A label/annotation map, empty when absent.
pub fn kv(m: &Option<BTreeMap<String, String>>) -> BTreeMap<String, String> {
    m.clone().unwrap_or_default()
}

/// The tenant uid recorded on a super object, if it is one.
pub fn recorded_uid(meta: &ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(tenancy::ANNOTATION_UID))
        .map(String::as_str)
}

/// The tenant namespace recorded on a super object (for a super namespace: the tenant
/// namespace it stands for), if it is one.
pub fn origin_namespace(meta: &ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(tenancy::ANNOTATION_NAMESPACE))
        .map(String::as_str)
}

/// Whether a super object belongs to the tenant with this cluster key.
pub fn owned_by(meta: &ObjectMeta, cluster_key: &str) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| tenancy::owned_by(a, cluster_key))
}

/// Whether a tenant object asked the syncer to leave it alone.
pub fn ignored(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(tenancy::LABEL_IGNORE_SYNC))
        .is_some_and(|v| v == "true")
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// A tenant context for tests.
    pub fn ctx() -> TenantCtx {
        TenantCtx {
            id: TenantId {
                cluster_key: "tenants-abc123-vc1".into(),
                vc_name: "vc1".into(),
                vc_namespace: "tenants".into(),
                vc_uid: "vc-uid".into(),
            },
            rules: MetaRules::default(),
            placement: Placement::default(),
            pod_policy: PodPolicy::default(),
            service_policy: ServicePolicy::default(),
            cluster_domain: "cluster.local".into(),
        }
    }

    /// Tenant object metadata for tests.
    pub fn vmeta(ns: &str, name: &str, uid: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            uid: Some(uid.into()),
            resource_version: Some("7".into()),
            ..ObjectMeta::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn super_meta_maps_namespace_and_stamps_the_contract() {
        let mut v = vmeta("default", "web", "u1");
        v.labels = Some(BTreeMap::from([
            ("app".into(), "web".into()),
            ("tenancy.x-k8s.io/evil".into(), "x".into()),
        ]));
        let existing = ObjectMeta {
            labels: Some(BTreeMap::from([(
                "tenancy.x-k8s.io/keep".into(),
                "super".into(),
            )])),
            ..ObjectMeta::default()
        };
        let m = super_meta(&ctx(), &v, Some(&existing)).expect("meta");
        assert_eq!(m.namespace.as_deref(), Some("tenants-abc123-vc1-default"));
        assert_eq!(m.uid, None);
        assert_eq!(m.resource_version, None);
        let labels = kv(&m.labels);
        assert_eq!(labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(labels.get("tenancy.x-k8s.io/evil"), None);
        assert_eq!(
            labels.get("tenancy.x-k8s.io/keep").map(String::as_str),
            Some("super")
        );
        assert_eq!(
            labels.get(tenancy::LABEL_VC_NAME).map(String::as_str),
            Some("vc1")
        );
        assert_eq!(recorded_uid(&m), Some("u1"));
        assert!(owned_by(&m, "tenants-abc123-vc1"));
        assert!(!owned_by(&m, "other"));
    }

    #[test]
    fn super_meta_requires_namespace_and_uid() {
        let mut v = vmeta("default", "web", "u1");
        v.uid = None;
        assert!(matches!(
            super_meta(&ctx(), &v, None),
            Err(ConvertError::Contract(_))
        ));
        let mut v = vmeta("Bad_NS", "web", "u1");
        v.uid = Some("u".into());
        assert!(super_meta(&ctx(), &v, None).is_err());
    }
}
