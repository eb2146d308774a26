//! Where a control plane is reached, and the names its certificates carry for that.

use crate::pki::SubjectNames;
use crate::validate::ValidSpec;

/// Where a control plane is reached, which decides certificate names and kubeconfig servers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Names of the API server serving certificate.
    pub apiserver_names: SubjectNames,
    /// Names of the etcd certificate.
    pub etcd_names: SubjectNames,
    /// URL in the admin kubeconfig.
    pub server: String,
    /// URL in the controller-manager kubeconfig.
    pub internal_server: String,
}

/// Names every tenant API server certificate carries besides its service and addresses: the
/// in-tenant `kubernetes` service forms, its first service IP, and loopback.
pub fn base_apiserver_names(spec: &ValidSpec, extra: &[String]) -> SubjectNames {
    let mut names = SubjectNames::default();
    let domain = &spec.cluster_domain;
    for n in [
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        format!("kubernetes.default.svc.{domain}"),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ] {
        names.add(&n);
    }
    // The tenant's own `kubernetes` service gets the first address of its service range.
    if let Some(first) = spec.service_cidr.hosts().next() {
        names.ips.insert(first);
    }
    for n in extra {
        names.add(n);
    }
    names
}
