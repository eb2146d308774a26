//! The tenant PKI: what each tenant's control plane needs, stored in its root namespace under
//! upstream VirtualCluster's secret names.
//!
//! | secret | content | signed by |
//! | --- | --- | --- |
//! | `root-ca` | the tenant CA (`tls.crt`, `tls.key`) | itself |
//! | `apiserver-ca` | API server serving cert, CN = cluster key, server + client auth | root CA |
//! | `etcd-ca` | etcd serving/peer cert, CN `kube-etcd`, server + client auth | root CA |
//! | `front-proxy-ca` | front-proxy client cert, CN `front-proxy-client` | root CA |
//! | `kubelet-client` | client cert the API server presents to kubelets, CN = cluster key | root CA |
//! | `serviceaccount-rsa` | service-account signing key (`tls.key`) and public key (`tls.crt`) | — |
//! | `admin-kubeconfig` | kubeconfig, client cert CN `admin`, O `system:masters` | root CA |
//! | `controller-manager-kubeconfig` | kubeconfig, CN `system:kube-controller-manager` | root CA |
//!
//! As upstream, the `*-ca` names are historical: only `root-ca` holds a CA; the others hold leaf
//! certificates. Every key is ECDSA P-256 in PKCS#8 (ring cannot generate RSA keys); Kubernetes
//! accepts P-256 for TLS and for service-account tokens (ES256), so `serviceaccount-rsa` keeps
//! its upstream name with an ECDSA key in it.

pub mod inspect;
pub mod issue;
pub mod kubeconfig;
pub mod plan;
pub mod secrets;

use std::net::IpAddr;

pub use issue::{CaBundle, CertKey};
pub use plan::{IssueReason, PkiPlan, PkiSpec, plan};

/// Share of a leaf certificate's lifetime left at which it is renewed (20%).
pub const RENEW_AT_REMAINING_PERCENT: i64 = 20;
/// The root CA lives this many times longer than the leaves it signs, so leaves can be renewed
/// many times while the CA (and every client's trust in it) stays.
pub const CA_LIFETIME_FACTOR: i64 = 10;
/// Certificates start this long before they are issued, tolerating clock skew between machines.
pub const BACKDATE_SECONDS: i64 = 300;

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

/// Errors of PKI generation and parsing.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Certificate generation failed.
    #[error("cannot generate {what}: {source}")]
    Generate {
        /// What was being generated.
        what: String,
        /// The rcgen error.
        source: rcgen::Error,
    },
    /// A PEM certificate or key could not be read.
    #[error("{what} is not valid: {reason}")]
    Invalid {
        /// What was being read.
        what: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,
}

/// One piece of the tenant PKI, stored in its own secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PkiItem {
    /// The tenant root CA.
    RootCa,
    /// The API server's serving certificate.
    ApiServer,
    /// The etcd serving/peer certificate.
    Etcd,
    /// The front-proxy client certificate.
    FrontProxy,
    /// The client certificate the API server presents to kubelets (and vn-agent).
    KubeletClient,
    /// The service-account token signing key.
    ServiceAccount,
    /// The admin kubeconfig.
    AdminKubeconfig,
    /// The controller-manager kubeconfig.
    ControllerManagerKubeconfig,
}

impl PkiItem {
    /// Every item, CA first (leaves depend on it).
    pub const ALL: [PkiItem; 8] = [
        PkiItem::RootCa,
        PkiItem::ApiServer,
        PkiItem::Etcd,
        PkiItem::FrontProxy,
        PkiItem::KubeletClient,
        PkiItem::ServiceAccount,
        PkiItem::AdminKubeconfig,
        PkiItem::ControllerManagerKubeconfig,
    ];

    /// Name of the secret holding the item (from the tenancy contract).
    pub fn secret_name(self) -> &'static str {
        use crds::tenancy::keys::*;
        match self {
            PkiItem::RootCa => SECRET_ROOT_CA,
            PkiItem::ApiServer => SECRET_APISERVER_CA,
            PkiItem::Etcd => SECRET_ETCD_CA,
            PkiItem::FrontProxy => SECRET_FRONT_PROXY_CA,
            PkiItem::KubeletClient => SECRET_KUBELET_CLIENT,
            PkiItem::ServiceAccount => SECRET_SERVICE_ACCOUNT_RSA,
            PkiItem::AdminKubeconfig => SECRET_ADMIN_KUBECONFIG,
            PkiItem::ControllerManagerKubeconfig => SECRET_CONTROLLER_MANAGER_KUBECONFIG,
        }
    }

    /// Whether the item is a kubeconfig (stored under a data key named like the secret).
    pub fn is_kubeconfig(self) -> bool {
        matches!(
            self,
            PkiItem::AdminKubeconfig | PkiItem::ControllerManagerKubeconfig
        )
    }
}

impl std::fmt::Display for PkiItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.secret_name())
    }
}

/// Names a serving certificate must be valid for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectNames {
    /// DNS names, kept sorted and unique.
    pub dns: std::collections::BTreeSet<String>,
    /// IP addresses, kept sorted and unique.
    pub ips: std::collections::BTreeSet<IpAddr>,
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

#[cfg(test)]
mod tests;
