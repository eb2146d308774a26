//! Endpoints of selector-less services: copied as they are (the super endpoints controller owns
//! the endpoints of services with selectors).

use k8s_openapi::api::core::v1::Endpoints;

use super::{Change, ConvertError, TenantCtx, same_labels_annotations, super_meta, with_meta_of};

/// The super copy of tenant endpoints `vep`.
pub fn desired(
    ctx: &TenantCtx,
    vep: &Endpoints,
    existing: Option<&Endpoints>,
) -> Result<Endpoints, ConvertError> {
    Ok(Endpoints {
        metadata: super_meta(ctx, &vep.metadata, existing.map(|e| &e.metadata))?,
        subsets: vep.subsets.clone(),
    })
}

/// What to write to existing super endpoints.
pub fn diff(desired: &Endpoints, existing: &Endpoints) -> Change<Endpoints> {
    if desired.subsets.clone().unwrap_or_default() == existing.subsets.clone().unwrap_or_default()
        && same_labels_annotations(&desired.metadata, &existing.metadata)
    {
        return Change::None;
    }
    Change::Update(Endpoints {
        metadata: with_meta_of(&existing.metadata, &desired.metadata),
        subsets: desired.subsets.clone(),
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{EndpointAddress, EndpointSubset};

    use super::super::testutil::{ctx, vmeta};
    use super::*;

    #[test]
    fn subsets_are_copied_and_diffed() {
        let v = Endpoints {
            metadata: vmeta("default", "ext", "u"),
            subsets: Some(vec![EndpointSubset {
                addresses: Some(vec![EndpointAddress {
                    ip: "192.0.2.10".into(),
                    ..EndpointAddress::default()
                }]),
                ..EndpointSubset::default()
            }]),
        };
        let d = desired(&ctx(), &v, None).expect("desired");
        assert_eq!(d.subsets, v.subsets);
        let mut e = d.clone();
        e.subsets = None;
        assert!(matches!(diff(&d, &e), Change::Update(_)));
    }
}
