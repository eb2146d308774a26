//! Ingresses (behind a flag): the spec goes down, the load-balancer status comes back up.

use k8s_openapi::api::networking::v1::{Ingress, IngressStatus};

use super::{Change, ConvertError, TenantCtx, same_labels_annotations, super_meta, with_meta_of};

/// The super copy of tenant ingress `ving`.
pub fn desired(
    ctx: &TenantCtx,
    ving: &Ingress,
    existing: Option<&Ingress>,
) -> Result<Ingress, ConvertError> {
    Ok(Ingress {
        metadata: super_meta(ctx, &ving.metadata, existing.map(|e| &e.metadata))?,
        spec: ving.spec.clone(),
        status: None,
    })
}

/// What to write to an existing super ingress.
pub fn diff(desired: &Ingress, existing: &Ingress) -> Change<Ingress> {
    if desired.spec == existing.spec
        && same_labels_annotations(&desired.metadata, &existing.metadata)
    {
        return Change::None;
    }
    Change::Update(Ingress {
        metadata: with_meta_of(&existing.metadata, &desired.metadata),
        spec: desired.spec.clone(),
        status: None,
    })
}

/// The tenant ingress status from the super ingress; `None` when unchanged.
pub fn status_up(ving: &Ingress, ping: &Ingress) -> Option<IngressStatus> {
    let p = ping.status.clone()?;
    (Some(&p) != ving.status.as_ref()).then_some(p)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::networking::v1::{
        IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressSpec,
    };

    use super::super::testutil::{ctx, vmeta};
    use super::*;

    #[test]
    fn spec_down_status_up() {
        let v = Ingress {
            metadata: vmeta("default", "web", "u"),
            spec: Some(IngressSpec {
                ingress_class_name: Some("nginx".into()),
                ..IngressSpec::default()
            }),
            status: None,
        };
        let d = desired(&ctx(), &v, None).expect("desired");
        assert_eq!(diff(&d, &d.clone()), Change::None);
        let mut p = d.clone();
        p.status = Some(IngressStatus {
            load_balancer: Some(IngressLoadBalancerStatus {
                ingress: Some(vec![IngressLoadBalancerIngress {
                    ip: Some("1.2.3.4".into()),
                    ..IngressLoadBalancerIngress::default()
                }]),
            }),
        });
        assert!(status_up(&v, &p).is_some());
    }
}
