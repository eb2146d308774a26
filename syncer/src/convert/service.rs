//! Services: the super cluster allocates clusterIP and nodePorts; the tenant's clusterIP is kept
//! as an annotation on the super copy and the super clusterIP goes back up as an annotation.

use crds::tenancy;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec, ServiceStatus};

use super::{
    Change, ConvertError, TenantCtx, address, kv, same_labels_annotations, super_meta, with_meta_of,
};

/// Whether a service selects pods (otherwise its endpoints are synced as they are).
pub fn has_selector(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| !s.is_empty())
}

/// Whether a service is headless (`clusterIP: None`).
pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// Rejects a service that claims more of the super cluster than the VC's `servicePolicy`
/// allows: node ports, load balancers, external IPs, external names.
pub fn check(ctx: &TenantCtx, vsvc: &Service) -> Result<(), ConvertError> {
    let Some(spec) = vsvc.spec.as_ref() else {
        return Ok(());
    };
    let policy = &ctx.service_policy;
    let violation = |rule: &'static str, allow: &str, detail: String| {
        Err(ConvertError::PolicyViolation {
            rule,
            allow: allow.into(),
            detail,
        })
    };
    match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "NodePort" if !policy.allow_node_port => {
            return violation(
                "nodePort",
                "spec.servicePolicy.allowNodePort",
                "spec.type: NodePort opens ports on every super-cluster node".into(),
            );
        }
        "LoadBalancer" if !policy.allow_load_balancer => {
            return violation(
                "loadBalancer",
                "spec.servicePolicy.allowLoadBalancer",
                "spec.type: LoadBalancer asks the super cluster for a load balancer".into(),
            );
        }
        "ExternalName" => {
            let name = spec.external_name.as_deref().unwrap_or_default();
            if !address::name_allowed(name, &policy.allowed_external_names) {
                return violation(
                    "externalName",
                    "spec.servicePolicy.allowedExternalNames",
                    format!("spec.externalName {name:?} is not a name the VirtualCluster allows"),
                );
            }
        }
        _ => {}
    }
    let nets = address::parse_cidrs(
        "spec.servicePolicy.allowedExternalIPs",
        &policy.allowed_external_ips,
    )?;
    let claimed = spec
        .external_ips
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, ip)| (format!("spec.externalIPs[{i}]"), ip.as_str()))
        .chain(
            spec.load_balancer_ip
                .as_deref()
                .filter(|ip| !ip.is_empty())
                .map(|ip| ("spec.loadBalancerIP".to_string(), ip)),
        );
    for (path, text) in claimed {
        let ip = address::parse_ip(&path, text)?;
        if !address::in_nets(ip, &nets) {
            return violation(
                "externalIPs",
                "spec.servicePolicy.allowedExternalIPs",
                format!("{path} {text} claims an address the VirtualCluster does not allow"),
            );
        }
    }
    Ok(())
}

/// The super service for tenant service `vsvc`.
pub fn desired(
    ctx: &TenantCtx,
    vsvc: &Service,
    existing: Option<&Service>,
) -> Result<Service, ConvertError> {
    check(ctx, vsvc)?;
    let mut meta = super_meta(ctx, &vsvc.metadata, existing.map(|e| &e.metadata))?;
    let mut spec = vsvc.spec.clone().unwrap_or_default();
    let tenant_ip = spec
        .cluster_ip
        .clone()
        .filter(|ip| !ip.is_empty() && ip != "None");
    if let Some(ip) = &tenant_ip {
        meta.annotations
            .get_or_insert_default()
            .insert(tenancy::ANNOTATION_CLUSTER_IP.into(), ip.clone());
    }
    if !is_headless(vsvc) {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
    } else {
        spec.cluster_ips = None;
    }
    spec.health_check_node_port = None;
    for p in spec.ports.iter_mut().flatten() {
        p.node_port = None;
    }
    spec.selector = spec
        .selector
        .as_ref()
        .map(|s| ctx.rules.selector_downward(s));
    Ok(Service {
        metadata: meta,
        spec: Some(spec),
        status: None,
    })
}

/// The spec fields the tenant owns, with everything the super cluster allocates removed.
fn comparable(spec: &ServiceSpec) -> ServiceSpec {
    let mut s = spec.clone();
    if s.cluster_ip.as_deref() != Some("None") {
        s.cluster_ip = None;
    }
    s.cluster_ips = None;
    s.health_check_node_port = None;
    s.ip_families = None;
    s.ip_family_policy = None;
    s.internal_traffic_policy = None;
    s.session_affinity = s.session_affinity.filter(|a| a != "None");
    s.type_ = s.type_.filter(|t| t != "ClusterIP");
    if s.external_traffic_policy.as_deref() == Some("Cluster") {
        s.external_traffic_policy = None;
    }
    for p in s.ports.iter_mut().flatten() {
        p.node_port = None;
        if p.protocol.as_deref() == Some("TCP") {
            p.protocol = None;
        }
        if p.target_port.is_none() {
            p.target_port =
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p.port));
        }
    }
    s
}

/// What to write to an existing super service: tenant-owned spec fields and metadata; the
/// allocated clusterIP and nodePorts of `existing` are kept.
pub fn diff(desired: &Service, existing: &Service) -> Change<Service> {
    let dspec = desired.spec.clone().unwrap_or_default();
    let espec = existing.spec.clone().unwrap_or_default();
    let spec_same = comparable(&dspec) == comparable(&espec);
    if spec_same && same_labels_annotations(&desired.metadata, &existing.metadata) {
        return Change::None;
    }
    // A headless service cannot become a ClusterIP one (or back) in place.
    if (dspec.cluster_ip.as_deref() == Some("None"))
        != (espec.cluster_ip.as_deref() == Some("None"))
    {
        return Change::Recreate(desired.clone());
    }
    let mut spec = dspec;
    spec.cluster_ip = espec.cluster_ip.clone();
    spec.cluster_ips = espec.cluster_ips.clone();
    spec.ip_families = espec.ip_families.clone();
    spec.ip_family_policy = spec.ip_family_policy.or(espec.ip_family_policy.clone());
    spec.health_check_node_port = espec.health_check_node_port;
    for p in spec.ports.iter_mut().flatten() {
        p.node_port = espec
            .ports
            .iter()
            .flatten()
            .find(|e| e.port == p.port && e.protocol == p.protocol)
            .and_then(|e| e.node_port);
    }
    Change::Update(Service {
        metadata: with_meta_of(&existing.metadata, &desired.metadata),
        spec: Some(spec),
        status: None,
    })
}

/// The super cluster IP of a super service, when it has a real one.
pub fn super_cluster_ip(psvc: &Service) -> Option<&str> {
    psvc.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .filter(|ip| !ip.is_empty() && *ip != "None")
}

/// The tenant service's ports with the node ports the super cluster allocated, when they
/// differ from what the tenant shows (ports match by port number and protocol).
pub fn node_ports_up(vsvc: &Service, psvc: &Service) -> Option<Vec<ServicePort>> {
    let vports = vsvc.spec.as_ref()?.ports.as_ref()?;
    let pports = psvc.spec.as_ref()?.ports.as_ref()?;
    let proto = |p: &ServicePort| p.protocol.clone().unwrap_or_else(|| "TCP".into());
    let mut changed = false;
    let out: Vec<ServicePort> = vports
        .iter()
        .map(|v| {
            let allocated = pports
                .iter()
                .find(|p| p.port == v.port && proto(p) == proto(v))
                .and_then(|p| p.node_port);
            let mut v = v.clone();
            if allocated.is_some() && allocated != v.node_port {
                v.node_port = allocated;
                changed = true;
            }
            v
        })
        .collect();
    changed.then_some(out)
}

/// The tenant service's metadata and status after back-populating the super clusterIP, the
/// transparent annotations and the load-balancer status; `None` when nothing changes.
pub fn up(ctx: &TenantCtx, vsvc: &Service, psvc: &Service) -> Option<(Service, bool)> {
    let mut annotations = ctx.rules.merge_upward(
        &kv(&psvc.metadata.annotations),
        &kv(&vsvc.metadata.annotations),
    );
    if let Some(ip) = super_cluster_ip(psvc) {
        annotations.insert(tenancy::ANNOTATION_SUPER_CLUSTER_IP.into(), ip.to_string());
    }
    let meta_changed = annotations != kv(&vsvc.metadata.annotations);
    let lb = psvc.status.as_ref().and_then(|s| s.load_balancer.clone());
    let vlb = vsvc.status.as_ref().and_then(|s| s.load_balancer.clone());
    let lb_changed = lb
        .as_ref()
        .filter(|l| l.ingress.as_ref().is_some_and(|i| !i.is_empty()))
        != vlb
            .as_ref()
            .filter(|l| l.ingress.as_ref().is_some_and(|i| !i.is_empty()));
    if !meta_changed && !lb_changed {
        return None;
    }
    let mut out = vsvc.clone();
    out.metadata.annotations = Some(annotations);
    out.metadata.managed_fields = None;
    if lb_changed {
        out.status = Some(ServiceStatus {
            load_balancer: lb,
            ..vsvc.status.clone().unwrap_or_default()
        });
    }
    Some((out, lb_changed))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus};

    use super::super::testutil::{ctx, vmeta};
    use super::*;

    fn vsvc() -> Service {
        Service {
            metadata: vmeta("default", "web", "svc-uid"),
            spec: Some(ServiceSpec {
                cluster_ip: Some("10.32.0.15".into()),
                cluster_ips: Some(vec!["10.32.0.15".into()]),
                selector: Some(BTreeMap::from([
                    ("app".into(), "web".into()),
                    ("tenancy.x-k8s.io/secret".into(), "x".into()),
                ])),
                ports: Some(vec![ServicePort {
                    port: 80,
                    node_port: Some(30080),
                    ..ServicePort::default()
                }]),
                type_: Some("NodePort".into()),
                ..ServiceSpec::default()
            }),
            status: None,
        }
    }

    fn open_ctx() -> TenantCtx {
        let mut c = ctx();
        c.service_policy.allow_node_port = true;
        c
    }

    fn rule(r: Result<(), ConvertError>) -> &'static str {
        match r {
            Err(ConvertError::PolicyViolation { rule, .. }) => rule,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn service_policy_gates_what_reaches_the_super_cluster() {
        let c = ctx();
        assert_eq!(rule(check(&c, &vsvc())), "nodePort");
        let mut s = vsvc();
        let spec = s.spec.as_mut().expect("spec");
        spec.type_ = Some("LoadBalancer".into());
        assert_eq!(rule(check(&c, &s)), "loadBalancer");
        let mut s = vsvc();
        let spec = s.spec.as_mut().expect("spec");
        spec.type_ = None;
        spec.external_ips = Some(vec!["10.96.0.1".into()]);
        assert_eq!(rule(check(&c, &s)), "externalIPs");
        let mut allowed = ctx();
        allowed.service_policy.allowed_external_ips = vec!["192.0.2.0/24".into()];
        assert_eq!(rule(check(&allowed, &s)), "externalIPs");
        if let Some(spec) = s.spec.as_mut() {
            spec.external_ips = Some(vec!["192.0.2.7".into()]);
        }
        assert_eq!(check(&allowed, &s), Ok(()));
        let mut s = vsvc();
        let spec = s.spec.as_mut().expect("spec");
        spec.type_ = Some("ExternalName".into());
        spec.external_name = Some("kubernetes.default.svc.cluster.local".into());
        assert_eq!(rule(check(&c, &s)), "externalName");
        let mut names = ctx();
        names.service_policy.allowed_external_names = vec!["*.example.com".into()];
        if let Some(spec) = s.spec.as_mut() {
            spec.external_name = Some("db.example.com".into());
        }
        assert_eq!(check(&names, &s), Ok(()));
        // A refused service never becomes a super object.
        assert!(desired(&c, &vsvc(), None).is_err());
    }

    #[test]
    fn allocated_node_ports_go_back_up() {
        let v = vsvc();
        let mut p = desired(&open_ctx(), &v, None).expect("desired");
        if let Some(ports) = p.spec.as_mut().and_then(|s| s.ports.as_mut()) {
            ports[0].node_port = Some(30000);
        }
        let up = node_ports_up(&v, &p).expect("differs");
        assert_eq!(up[0].node_port, Some(30000));
        let mut v2 = v.clone();
        if let Some(s) = v2.spec.as_mut() {
            s.ports = Some(up);
        }
        assert_eq!(node_ports_up(&v2, &p), None);
    }

    #[test]
    fn super_allocates_ips_and_ports() {
        let d = desired(&open_ctx(), &vsvc(), None).expect("desired");
        let s = d.spec.as_ref().expect("spec");
        assert_eq!(s.cluster_ip, None);
        assert_eq!(s.cluster_ips, None);
        assert_eq!(s.ports.as_ref().expect("ports")[0].node_port, None);
        assert_eq!(
            s.selector,
            Some(BTreeMap::from([("app".into(), "web".into())]))
        );
        assert_eq!(
            kv(&d.metadata.annotations)
                .get(tenancy::ANNOTATION_CLUSTER_IP)
                .map(String::as_str),
            Some("10.32.0.15")
        );
    }

    #[test]
    fn headless_stays_headless() {
        let mut v = vsvc();
        if let Some(s) = v.spec.as_mut() {
            s.cluster_ip = Some("None".into());
        }
        let d = desired(&open_ctx(), &v, None).expect("desired");
        assert_eq!(d.spec.expect("spec").cluster_ip.as_deref(), Some("None"));
    }

    #[test]
    fn diff_keeps_allocations_and_ignores_defaults() {
        let d = desired(&open_ctx(), &vsvc(), None).expect("desired");
        let mut existing = d.clone();
        existing.metadata.uid = Some("p".into());
        if let Some(s) = existing.spec.as_mut() {
            s.cluster_ip = Some("10.96.0.44".into());
            s.cluster_ips = Some(vec!["10.96.0.44".into()]);
            s.session_affinity = Some("None".into());
            s.ip_families = Some(vec!["IPv4".into()]);
            if let Some(p) = s.ports.as_mut() {
                p[0].node_port = Some(31000);
                p[0].protocol = Some("TCP".into());
            }
        }
        assert_eq!(diff(&d, &existing), Change::None);
        let mut v2 = vsvc();
        if let Some(p) = v2.spec.as_mut().and_then(|s| s.ports.as_mut()) {
            p.push(ServicePort {
                port: 443,
                ..ServicePort::default()
            });
        }
        let d2 = desired(&open_ctx(), &v2, Some(&existing)).expect("desired");
        match diff(&d2, &existing) {
            Change::Update(s) => {
                let spec = s.spec.expect("spec");
                assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.44"));
                assert_eq!(spec.ports.expect("ports").len(), 2);
                assert_eq!(s.metadata.uid.as_deref(), Some("p"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn up_back_populates_ip_and_lb() {
        let v = vsvc();
        let mut p = desired(&open_ctx(), &v, None).expect("desired");
        if let Some(s) = p.spec.as_mut() {
            s.cluster_ip = Some("10.96.0.44".into());
        }
        let (out, lb) = up(&ctx(), &v, &p).expect("changed");
        assert!(!lb);
        assert_eq!(
            kv(&out.metadata.annotations)
                .get(tenancy::ANNOTATION_SUPER_CLUSTER_IP)
                .map(String::as_str),
            Some("10.96.0.44")
        );
        assert_eq!(up(&ctx(), &out, &p), None);
        p.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(vec![LoadBalancerIngress {
                    ip: Some("1.2.3.4".into()),
                    ..LoadBalancerIngress::default()
                }]),
            }),
            ..ServiceStatus::default()
        });
        let (out2, lb) = up(&ctx(), &out, &p).expect("changed");
        assert!(lb);
        assert!(out2.status.is_some());
    }
}
