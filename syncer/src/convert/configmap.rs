//! ConfigMaps: copied as they are.

use k8s_openapi::api::core::v1::ConfigMap;

use super::{Change, ConvertError, TenantCtx, same_labels_annotations, super_meta, with_meta_of};

/// The super copy of tenant configmap `vcm`.
pub fn desired(
    ctx: &TenantCtx,
    vcm: &ConfigMap,
    existing: Option<&ConfigMap>,
) -> Result<ConfigMap, ConvertError> {
    Ok(ConfigMap {
        metadata: super_meta(ctx, &vcm.metadata, existing.map(|e| &e.metadata))?,
        data: vcm.data.clone(),
        binary_data: vcm.binary_data.clone(),
        immutable: vcm.immutable,
    })
}

/// What to write to an existing super configmap.
pub fn diff(desired: &ConfigMap, existing: &ConfigMap) -> Change<ConfigMap> {
    let same_data = desired.data.clone().unwrap_or_default()
        == existing.data.clone().unwrap_or_default()
        && desired.binary_data.clone().unwrap_or_default()
            == existing.binary_data.clone().unwrap_or_default();
    let same_immutable = desired.immutable.unwrap_or(false) == existing.immutable.unwrap_or(false);
    if same_data && same_immutable && same_labels_annotations(&desired.metadata, &existing.metadata)
    {
        return Change::None;
    }
    if existing.immutable == Some(true) && !(same_data && same_immutable) {
        return Change::Recreate(desired.clone());
    }
    Change::Update(ConfigMap {
        metadata: with_meta_of(&existing.metadata, &desired.metadata),
        ..desired.clone()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testutil::{ctx, vmeta};
    use super::*;

    #[test]
    fn copies_and_diffs_data() {
        let v = ConfigMap {
            metadata: vmeta("default", "cfg", "u"),
            data: Some(BTreeMap::from([("a".into(), "1".into())])),
            ..ConfigMap::default()
        };
        let d = desired(&ctx(), &v, None).expect("desired");
        assert_eq!(d.data, v.data);
        let mut e = d.clone();
        e.metadata.resource_version = Some("5".into());
        assert_eq!(diff(&d, &e), Change::None);
        e.data = Some(BTreeMap::from([("a".into(), "2".into())]));
        match diff(&d, &e) {
            Change::Update(c) => {
                assert_eq!(c.data, v.data);
                assert_eq!(c.metadata.resource_version.as_deref(), Some("5"));
            }
            other => panic!("{other:?}"),
        }
    }
}
