//! Who tenant certificates name: the fixed subjects (common names, users, groups) and the
//! names a serving certificate is valid for.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// Common name of the etcd certificate.
pub const ETCD_COMMON_NAME: &str = "kube-etcd";
/// Common name of the front-proxy client certificate (the API server's
/// `--requestheader-allowed-names`).
pub const FRONT_PROXY_COMMON_NAME: &str = "front-proxy-client";
/// User of the admin kubeconfig.
pub const ADMIN_USER: &str = "admin";
/// Group of the admin kubeconfig.
pub const ADMIN_GROUP: &str = "system:masters";
/// User of the controller-manager kubeconfig.
pub const CONTROLLER_MANAGER_USER: &str = "system:kube-controller-manager";

/// Names a serving certificate must be valid for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectNames {
    /// DNS names, kept sorted and unique.
    pub dns: BTreeSet<String>,
    /// IP addresses, kept sorted and unique.
    pub ips: BTreeSet<IpAddr>,
}

impl SubjectNames {
    /// Adds a name: an IP address when it parses as one, a DNS name otherwise.
    pub fn add(&mut self, name: &str) {
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => {
                self.ips.insert(ip);
            }
            Err(_) => {
                self.dns.insert(name.to_ascii_lowercase());
            }
        }
    }
}
