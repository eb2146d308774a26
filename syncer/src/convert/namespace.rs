//! Namespaces: tenant namespace `ns` → super namespace `<cluster-key>-<ns>`.

use crds::tenancy::ContractError;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Change, ConvertError, TenantCtx, kv, same_labels_annotations, with_meta_of};

/// Label prefix of upstream's Pod Security admission.
pub const POD_SECURITY_PREFIX: &str = "pod-security.kubernetes.io/";
/// The label with which a namespace asks Pod Security admission to enforce a level.
pub const POD_SECURITY_ENFORCE: &str = super::pss::ENFORCE_LABEL;

/// Namespace annotations read by upstream admission plugins (PodTolerationRestriction,
/// PodNodeSelector and OpenShift's equivalent); never copied from a tenant.
pub const ADMISSION_ANNOTATIONS: [&str; 4] = [
    "scheduler.alpha.kubernetes.io/defaultTolerations",
    "scheduler.alpha.kubernetes.io/tolerationsWhitelist",
    "scheduler.alpha.kubernetes.io/node-selector",
    "openshift.io/node-selector",
];

/// The super namespace for tenant namespace `vns`.
pub fn desired(
    ctx: &TenantCtx,
    vns: &Namespace,
    existing: Option<&Namespace>,
) -> Result<Namespace, ConvertError> {
    let name = vns
        .metadata
        .name
        .as_deref()
        .ok_or(ContractError::MissingField("metadata.name"))?;
    let uid = vns
        .metadata
        .uid
        .as_deref()
        .ok_or(ContractError::MissingField("metadata.uid"))?;
    let existing_meta = existing.map(|e| &e.metadata);
    let mut labels = ctx.rules.merge_downward(
        &kv(&vns.metadata.labels),
        existing_meta.and_then(|m| m.labels.as_ref()),
    );
    // The tenant's own name label would claim a super name it does not have.
    labels.remove("kubernetes.io/metadata.name");
    // A real super cluster enforces the tenant's pod profile a second time; tenant labels of
    // the pod-security prefix would otherwise relax it.
    labels.retain(|k, _| !k.starts_with(POD_SECURITY_PREFIX));
    labels.insert(
        POD_SECURITY_ENFORCE.into(),
        super::pss::enforce_label(&ctx.pod_policy).as_str().into(),
    );
    // The version our checks implement, so a newer super cluster judges by the same rules.
    labels.insert(
        super::pss::ENFORCE_VERSION_LABEL.into(),
        super::pss::POLICY_VERSION.into(),
    );
    labels.extend(ctx.id.labels());
    let mut annotations = ctx.rules.merge_downward(
        &kv(&vns.metadata.annotations),
        existing_meta.and_then(|m| m.annotations.as_ref()),
    );
    // Namespace annotations that configure the super cluster's admission would let a tenant
    // add tolerations or node selectors to its pods behind the syncer's back.
    annotations.retain(|k, _| !ADMISSION_ANNOTATIONS.iter().any(|a| k == a));
    annotations.extend(ctx.id.namespace_annotations(uid, name));
    Ok(Namespace {
        metadata: ObjectMeta {
            name: Some(ctx.super_ns(name)?),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    })
}

/// What to write to an existing super namespace: labels and annotations only.
pub fn diff(desired: &Namespace, existing: &Namespace) -> Change<Namespace> {
    let mut d = desired.metadata.clone();
    // The API server sets the name label on every namespace; it is not ours to remove.
    if let Some(v) = kv(&existing.metadata.labels).get("kubernetes.io/metadata.name") {
        d.labels
            .get_or_insert_default()
            .insert("kubernetes.io/metadata.name".into(), v.clone());
    }
    if same_labels_annotations(&d, &existing.metadata) {
        return Change::None;
    }
    Change::Update(Namespace {
        metadata: with_meta_of(&existing.metadata, &d),
        spec: existing.spec.clone(),
        status: None,
    })
}

#[cfg(test)]
mod admission_tests {
    use std::collections::BTreeMap;

    use super::super::testutil::ctx;
    use super::*;

    #[test]
    fn tenant_cannot_configure_super_admission() {
        let v = Namespace {
            metadata: ObjectMeta {
                name: Some("app".into()),
                uid: Some("u".into()),
                labels: Some(BTreeMap::from([(
                    "pod-security.kubernetes.io/enforce".into(),
                    "privileged".into(),
                )])),
                annotations: Some(BTreeMap::from([
                    (
                        "scheduler.alpha.kubernetes.io/defaultTolerations".into(),
                        r#"[{"operator":"Exists"}]"#.into(),
                    ),
                    ("team".into(), "a".into()),
                ])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let d = desired(&ctx(), &v, None).expect("desired");
        let labels = kv(&d.metadata.labels);
        assert_eq!(
            labels.get(POD_SECURITY_ENFORCE).map(String::as_str),
            Some("baseline")
        );
        let ann = kv(&d.metadata.annotations);
        assert!(!ann.contains_key("scheduler.alpha.kubernetes.io/defaultTolerations"));
        assert_eq!(ann.get("team").map(String::as_str), Some("a"));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crds::tenancy;

    use super::super::testutil::ctx;
    use super::*;

    fn vns(name: &str) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some("ns-uid".into()),
                labels: Some(BTreeMap::from([
                    ("team".into(), "a".into()),
                    ("kubernetes.io/metadata.name".into(), name.into()),
                ])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        }
    }

    #[test]
    fn maps_name_and_annotates() {
        let p = desired(&ctx(), &vns("default"), None).expect("desired");
        assert_eq!(
            p.metadata.name.as_deref(),
            Some("tenants-abc123-vc1-default")
        );
        let ann = kv(&p.metadata.annotations);
        assert_eq!(
            ann.get(tenancy::ANNOTATION_NAMESPACE).map(String::as_str),
            Some("default")
        );
        assert_eq!(
            ann.get(tenancy::ANNOTATION_VC_UID).map(String::as_str),
            Some("vc-uid")
        );
        let labels = kv(&p.metadata.labels);
        assert_eq!(labels.get("team").map(String::as_str), Some("a"));
        assert!(!labels.contains_key("kubernetes.io/metadata.name"));
    }

    #[test]
    fn diff_only_on_metadata_change() {
        let d = desired(&ctx(), &vns("default"), None).expect("desired");
        let mut existing = d.clone();
        existing.metadata.uid = Some("p-uid".into());
        existing
            .metadata
            .labels
            .get_or_insert_default()
            .insert("kubernetes.io/metadata.name".into(), "x".into());
        assert_eq!(diff(&d, &existing), Change::None);
        let mut v2 = vns("default");
        v2.metadata
            .labels
            .get_or_insert_default()
            .insert("team".into(), "b".into());
        let d2 = desired(&ctx(), &v2, Some(&existing)).expect("desired");
        match diff(&d2, &existing) {
            Change::Update(ns) => {
                assert_eq!(ns.metadata.uid.as_deref(), Some("p-uid"));
                assert_eq!(
                    kv(&ns.metadata.labels).get("team").map(String::as_str),
                    Some("b")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
