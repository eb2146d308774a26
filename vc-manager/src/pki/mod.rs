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
//! certificates. Certificates and keys come from the shared issuer (`common::pki`): every key is
//! ECDSA P-256 in PKCS#8, so `serviceaccount-rsa` keeps its upstream name with an ECDSA key in it.

pub mod issue;
mod item;
pub mod kubeconfig;
mod lifetime;
pub mod plan;
pub mod secrets;
mod subject;

/// Errors of PKI generation and parsing (the shared issuer's).
pub use common::pki::PkiError;
/// Reading certificates back: the shared issuer's.
pub use common::pki::inspect;
pub use issue::{CaBundle, CertKey};
pub use item::PkiItem;
pub use lifetime::{BACKDATE_SECONDS, CA_LIFETIME_FACTOR, RENEW_AT_REMAINING_PERCENT};
pub use plan::{IssueReason, PkiPlan, PkiSpec, plan};
pub use subject::{
    ADMIN_GROUP, ADMIN_USER, CONTROLLER_MANAGER_USER, ETCD_COMMON_NAME, FRONT_PROXY_COMMON_NAME,
    SubjectNames,
};

#[cfg(test)]
mod tests;
