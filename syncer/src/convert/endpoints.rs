//! Hand-written endpoints: `Endpoints` of selector-less services and `EndpointSlice`s that no
//! endpoints controller manages. They are copied down only when every address is one of the
//! tenant's own super pods or lies in the VC's `servicePolicy.allowedEndpointCIDRs`; loopback,
//! link-local and multicast addresses never are (the CVE-2021-25740 pattern).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, ObjectReference};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::{
    Change, ConvertError, TenantCtx, address, kv, same_labels_annotations, super_meta, with_meta_of,
};

/// Label naming the controller that manages an EndpointSlice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// Label naming the service of an EndpointSlice.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The controllers whose slices each cluster makes for itself (the super cluster's own
/// controllers make the super copies' equivalents).
pub const CONTROLLER_MANAGERS: [&str; 2] = [
    "endpointslice-controller.k8s.io",
    "endpointslicemirroring-controller.k8s.io",
];

/// Whether an EndpointSlice was written by hand (or a third-party controller), so its super
/// copy has to come from the syncer.
pub fn slice_is_hand_written(slice: &EndpointSlice) -> bool {
    let labels = kv(&slice.metadata.labels);
    let managed = labels
        .get(LABEL_MANAGED_BY)
        .is_some_and(|m| CONTROLLER_MANAGERS.contains(&m.as_str()));
    let api_server_own = slice.metadata.namespace.as_deref() == Some("default")
        && labels.get(LABEL_SERVICE_NAME).map(String::as_str) == Some("kubernetes");
    !managed && !api_server_own
}

/// Every address of tenant endpoints with its field path.
pub fn endpoints_addresses(ep: &Endpoints) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, s) in ep.subsets.iter().flatten().enumerate() {
        for (list, addrs) in [
            ("addresses", s.addresses.as_ref()),
            ("notReadyAddresses", s.not_ready_addresses.as_ref()),
        ] {
            for (j, a) in addrs.into_iter().flatten().enumerate() {
                out.push((format!("subsets[{i}].{list}[{j}].ip"), a.ip.clone()));
            }
        }
    }
    out
}

/// Every address of a tenant EndpointSlice with its field path.
pub fn slice_addresses(slice: &EndpointSlice) -> Vec<(String, String)> {
    slice
        .endpoints
        .iter()
        .enumerate()
        .flat_map(|(i, e)| {
            e.addresses
                .iter()
                .enumerate()
                .map(move |(j, a)| (format!("endpoints[{i}].addresses[{j}]"), a.clone()))
        })
        .collect()
}

/// Rejects addresses that are neither the tenant's own pods (`is_own_pod`) nor in the VC's
/// allowed endpoint CIDRs.
pub fn check_addresses(
    ctx: &TenantCtx,
    addresses: &[(String, String)],
    is_own_pod: &dyn Fn(IpAddr) -> bool,
) -> Result<(), ConvertError> {
    let allowed = address::parse_cidrs(
        "spec.servicePolicy.allowedEndpointCIDRs",
        &ctx.service_policy.allowed_endpoint_cidrs,
    )?;
    for (path, text) in addresses {
        let ip = address::parse_ip(path, text)?;
        if let Some(why) = address::special_range(ip) {
            return Err(ConvertError::NotSupported(format!(
                "{path} {text} {why}: such endpoints would reach the super cluster's own hosts"
            )));
        }
        if !is_own_pod(ip) && !address::in_nets(ip, &allowed) {
            return Err(ConvertError::PolicyViolation {
                rule: "endpoints",
                allow: "spec.servicePolicy.allowedEndpointCIDRs".into(),
                detail: format!("{path} {text} is not the address of one of this tenant's pods"),
            });
        }
    }
    Ok(())
}

/// A pod reference of tenant endpoints as it reads in the super cluster; other references
/// are dropped (they would name tenant objects the super cluster does not have).
fn target_ref_down(
    ctx: &TenantCtx,
    r: Option<&ObjectReference>,
) -> Result<Option<ObjectReference>, ConvertError> {
    let Some(r) = r.filter(|r| r.kind.as_deref() == Some("Pod")) else {
        return Ok(None);
    };
    let ns = r.namespace.as_deref().unwrap_or_default();
    Ok(Some(ObjectReference {
        kind: r.kind.clone(),
        name: r.name.clone(),
        namespace: Some(ctx.super_ns(ns)?),
        ..ObjectReference::default()
    }))
}

fn address_down(ctx: &TenantCtx, a: &EndpointAddress) -> Result<EndpointAddress, ConvertError> {
    Ok(EndpointAddress {
        target_ref: target_ref_down(ctx, a.target_ref.as_ref())?,
        ..a.clone()
    })
}

/// The super copy of tenant endpoints `vep`. Call [`check_addresses`] first.
pub fn desired(
    ctx: &TenantCtx,
    vep: &Endpoints,
    existing: Option<&Endpoints>,
) -> Result<Endpoints, ConvertError> {
    let mut subsets = vep.subsets.clone();
    for s in subsets.iter_mut().flatten() {
        for list in [s.addresses.as_mut(), s.not_ready_addresses.as_mut()] {
            for a in list.into_iter().flatten() {
                *a = address_down(ctx, a)?;
            }
        }
    }
    Ok(Endpoints {
        metadata: super_meta(ctx, &vep.metadata, existing.map(|e| &e.metadata))?,
        subsets,
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

/// The super copy of a hand-written tenant EndpointSlice. Call [`check_addresses`] first.
pub fn slice_desired(
    ctx: &TenantCtx,
    v: &EndpointSlice,
    existing: Option<&EndpointSlice>,
) -> Result<EndpointSlice, ConvertError> {
    let mut endpoints = v.endpoints.clone();
    for e in &mut endpoints {
        e.target_ref = target_ref_down(ctx, e.target_ref.as_ref())?;
    }
    let mut metadata = super_meta(ctx, &v.metadata, existing.map(|e| &e.metadata))?;
    // The super cluster's controllers would otherwise treat the copy as theirs to replace.
    let labels: &mut BTreeMap<String, String> = metadata.labels.get_or_insert_default();
    if labels
        .get(LABEL_MANAGED_BY)
        .is_none_or(|m| CONTROLLER_MANAGERS.contains(&m.as_str()))
    {
        labels.insert(LABEL_MANAGED_BY.into(), "syncer.tenancy.x-k8s.io".into());
    }
    Ok(EndpointSlice {
        metadata,
        address_type: v.address_type.clone(),
        endpoints,
        ports: v.ports.clone(),
    })
}

/// What to write to an existing super EndpointSlice; a changed address type needs a new one.
pub fn slice_diff(desired: &EndpointSlice, existing: &EndpointSlice) -> Change<EndpointSlice> {
    if desired.address_type != existing.address_type {
        return Change::Recreate(desired.clone());
    }
    if desired.endpoints == existing.endpoints
        && desired.ports.clone().unwrap_or_default() == existing.ports.clone().unwrap_or_default()
        && same_labels_annotations(&desired.metadata, &existing.metadata)
    {
        return Change::None;
    }
    Change::Update(EndpointSlice {
        metadata: with_meta_of(&existing.metadata, &desired.metadata),
        ..desired.clone()
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::EndpointSubset;
    use k8s_openapi::api::discovery::v1::Endpoint;

    use super::super::testutil::{ctx, vmeta};
    use super::*;

    fn eps(ips: &[&str]) -> Endpoints {
        Endpoints {
            metadata: vmeta("default", "ext", "u"),
            subsets: Some(vec![EndpointSubset {
                addresses: Some(
                    ips.iter()
                        .map(|ip| EndpointAddress {
                            ip: (*ip).into(),
                            target_ref: Some(ObjectReference {
                                kind: Some("Pod".into()),
                                name: Some("p".into()),
                                namespace: Some("default".into()),
                                ..ObjectReference::default()
                            }),
                            ..EndpointAddress::default()
                        })
                        .collect(),
                ),
                ..EndpointSubset::default()
            }]),
        }
    }

    fn rule(r: Result<(), ConvertError>) -> String {
        match r {
            Err(ConvertError::PolicyViolation { rule, .. }) => rule.to_string(),
            Err(ConvertError::NotSupported(m)) => format!("notSupported: {m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn only_own_pods_or_allowed_cidrs() {
        let own = |ip: IpAddr| ip.to_string() == "10.244.1.5";
        let c = ctx();
        assert_eq!(
            check_addresses(&c, &endpoints_addresses(&eps(&["10.244.1.5"])), &own),
            Ok(())
        );
        assert_eq!(
            rule(check_addresses(
                &c,
                &endpoints_addresses(&eps(&["10.244.2.9"])),
                &own
            )),
            "endpoints"
        );
        assert_eq!(
            rule(check_addresses(
                &c,
                &endpoints_addresses(&eps(&["10.96.0.1"])),
                &own
            )),
            "endpoints"
        );
        for special in ["127.0.0.1", "169.254.169.254", "::1", "224.0.0.1"] {
            assert!(
                rule(check_addresses(
                    &c,
                    &endpoints_addresses(&eps(&[special])),
                    &own
                ))
                .starts_with("notSupported")
            );
        }
        let mut wide = ctx();
        wide.service_policy.allowed_endpoint_cidrs =
            vec!["192.0.2.0/24".into(), "0.0.0.0/0".into()];
        assert_eq!(
            check_addresses(&wide, &endpoints_addresses(&eps(&["192.0.2.10"])), &own),
            Ok(())
        );
        // Even a catch-all CIDR never admits loopback.
        assert!(
            rule(check_addresses(
                &wide,
                &endpoints_addresses(&eps(&["127.0.0.1"])),
                &own
            ))
            .starts_with("notSupported")
        );
    }

    #[test]
    fn subsets_are_copied_with_super_pod_references() {
        let v = eps(&["10.244.1.5"]);
        let d = desired(&ctx(), &v, None).expect("desired");
        let a = &d.subsets.as_ref().expect("subsets")[0]
            .addresses
            .as_ref()
            .expect("a")[0];
        assert_eq!(a.ip, "10.244.1.5");
        assert_eq!(
            a.target_ref.as_ref().and_then(|r| r.namespace.as_deref()),
            Some("tenants-abc123-vc1-default")
        );
        let mut e = d.clone();
        e.subsets = None;
        assert!(matches!(diff(&d, &e), Change::Update(_)));
        assert_eq!(diff(&d, &d), Change::None);
    }

    #[test]
    fn slices_written_by_hand_are_synced_and_marked() {
        let mut s = EndpointSlice {
            metadata: vmeta("default", "ext-abc", "su"),
            address_type: "IPv4".into(),
            endpoints: vec![Endpoint {
                addresses: vec!["10.244.1.5".into()],
                ..Endpoint::default()
            }],
            ports: None,
        };
        s.metadata.labels = Some(BTreeMap::from([(LABEL_SERVICE_NAME.into(), "ext".into())]));
        assert!(slice_is_hand_written(&s));
        assert_eq!(
            slice_addresses(&s),
            vec![(
                "endpoints[0].addresses[0]".to_string(),
                "10.244.1.5".to_string()
            )]
        );
        let d = slice_desired(&ctx(), &s, None).expect("desired");
        let labels = kv(&d.metadata.labels);
        assert_eq!(
            labels.get(LABEL_SERVICE_NAME).map(String::as_str),
            Some("ext")
        );
        assert_eq!(
            labels.get(LABEL_MANAGED_BY).map(String::as_str),
            Some("syncer.tenancy.x-k8s.io")
        );
        assert_eq!(slice_diff(&d, &d), Change::None);
        let mut controller = s.clone();
        controller.metadata.labels.get_or_insert_default().insert(
            LABEL_MANAGED_BY.into(),
            "endpointslice-controller.k8s.io".into(),
        );
        assert!(!slice_is_hand_written(&controller));
    }
}
