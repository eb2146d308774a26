//! PersistentVolumeClaims: the spec goes down (only storage requests may change afterwards);
//! status, the bound volume name and the bound PV come back up.

use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    Change, ConvertError, TenantCtx, kv, same_labels_annotations, super_meta, with_meta_of,
};

/// The super copy of tenant claim `vpvc`.
pub fn desired(
    ctx: &TenantCtx,
    vpvc: &PersistentVolumeClaim,
    existing: Option<&PersistentVolumeClaim>,
) -> Result<PersistentVolumeClaim, ConvertError> {
    Ok(PersistentVolumeClaim {
        metadata: super_meta(ctx, &vpvc.metadata, existing.map(|e| &e.metadata))?,
        spec: vpvc.spec.clone(),
        status: None,
    })
}

/// What to write to an existing super claim: metadata and storage requests (expansion).
pub fn diff(
    desired: &PersistentVolumeClaim,
    existing: &PersistentVolumeClaim,
) -> Change<PersistentVolumeClaim> {
    let req = |p: &PersistentVolumeClaim| {
        p.spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.clone())
            .unwrap_or_default()
    };
    let same_req = req(desired) == req(existing);
    if same_req && same_labels_annotations(&desired.metadata, &existing.metadata) {
        return Change::None;
    }
    let mut spec = existing.spec.clone().unwrap_or_default();
    spec.resources.get_or_insert_default().requests = Some(req(desired));
    Change::Update(PersistentVolumeClaim {
        metadata: with_meta_of(&existing.metadata, &desired.metadata),
        spec: Some(spec),
        status: None,
    })
}

/// The tenant claim with the super claim's status and bound volume; `None` when unchanged.
/// The boolean says whether the spec (volume name) changed, which needs a spec update.
pub fn up(
    vpvc: &PersistentVolumeClaim,
    ppvc: &PersistentVolumeClaim,
) -> Option<(PersistentVolumeClaim, bool)> {
    let pvol = ppvc.spec.as_ref().and_then(|s| s.volume_name.clone());
    let vvol = vpvc.spec.as_ref().and_then(|s| s.volume_name.clone());
    let spec_changed = pvol.is_some() && pvol != vvol;
    let status_changed = ppvc.status.is_some() && ppvc.status != vpvc.status;
    if !spec_changed && !status_changed {
        return None;
    }
    let mut out = vpvc.clone();
    out.metadata.managed_fields = None;
    if spec_changed {
        out.spec.get_or_insert_default().volume_name = pvol;
    }
    out.status = ppvc.status.clone();
    Some((out, spec_changed))
}

/// The tenant view of a super PV bound to a claim of this tenant: same name, claimRef pointing
/// at the tenant claim.
pub fn pv_up(ppv: &PersistentVolume, vpvc: &PersistentVolumeClaim) -> PersistentVolume {
    let mut spec = ppv.spec.clone().unwrap_or_default();
    spec.claim_ref = Some(ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: vpvc.metadata.namespace.clone(),
        name: vpvc.metadata.name.clone(),
        uid: vpvc.metadata.uid.clone(),
        ..ObjectReference::default()
    });
    PersistentVolume {
        metadata: ObjectMeta {
            name: ppv.metadata.name.clone(),
            labels: Some(kv(&ppv.metadata.labels)),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: ppv.status.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{
        PersistentVolumeClaimSpec, PersistentVolumeClaimStatus, VolumeResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    use super::super::testutil::{ctx, vmeta};
    use super::*;

    fn vpvc(size: &str) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: vmeta("default", "data", "pvc-uid"),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([("storage".into(), Quantity(size.into()))])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn expansion_and_status_up() {
        let d = desired(&ctx(), &vpvc("1Gi"), None).expect("desired");
        let mut e = d.clone();
        e.spec.get_or_insert_default().volume_name = Some("pv-1".into());
        assert_eq!(diff(&d, &e), Change::None);
        let d2 = desired(&ctx(), &vpvc("2Gi"), None).expect("desired");
        match diff(&d2, &e) {
            Change::Update(p) => {
                assert_eq!(p.spec.expect("spec").volume_name.as_deref(), Some("pv-1"))
            }
            other => panic!("{other:?}"),
        }
        e.status = Some(PersistentVolumeClaimStatus {
            phase: Some("Bound".into()),
            ..PersistentVolumeClaimStatus::default()
        });
        let (up_pvc, spec_changed) = up(&vpvc("1Gi"), &e).expect("changed");
        assert!(spec_changed);
        assert_eq!(
            up_pvc.status.and_then(|s| s.phase).as_deref(),
            Some("Bound")
        );
        let pv = pv_up(
            &PersistentVolume {
                metadata: ObjectMeta {
                    name: Some("pv-1".into()),
                    ..ObjectMeta::default()
                },
                ..PersistentVolume::default()
            },
            &vpvc("1Gi"),
        );
        let claim = pv.spec.and_then(|s| s.claim_ref).expect("claim");
        assert_eq!(claim.namespace.as_deref(), Some("default"));
        assert_eq!(claim.uid.as_deref(), Some("pvc-uid"));
    }
}
