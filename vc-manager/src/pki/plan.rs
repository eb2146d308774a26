//! Deciding what to (re)issue: a pure function over the desired PKI and the stored secrets.
//!
//! Nothing is regenerated on a normal reconcile. A leaf is re-issued only when it is missing or
//! unreadable, not signed by the current root CA, names the wrong subject or usages, lacks or has
//! extra SANs (for example once a LoadBalancer address appears), or has at most 20% of its life
//! left. The root CA is issued only when its secret does not exist; a root CA that is unusable
//! or expired blocks the PKI with a message, because replacing it silently would break every
//! client that trusts it. The service-account key is never rotated (that would invalidate every
//! token): it is generated when missing.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;

use common::pki::PkiError;
use common::pki::inspect::{self, CertInfo};

use super::issue::{self, CaBundle, CertKey, LeafSpec};
use super::item::PkiItem;
use super::kubeconfig::{self, KubeconfigParams};
use super::lifetime::{CA_LIFETIME_FACTOR, RENEW_AT_REMAINING_PERCENT};
use super::secrets::{self, SecretLayout};
use super::subject::{
    ADMIN_GROUP, ADMIN_USER, CONTROLLER_MANAGER_USER, ETCD_COMMON_NAME, FRONT_PROXY_COMMON_NAME,
    SubjectNames,
};

/// The PKI a tenant should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiSpec {
    /// The tenant's cluster key (CN of the API server and kubelet-client certificates).
    pub cluster_key: String,
    /// Name of the cluster entry in kubeconfigs (the VirtualCluster's name).
    pub cluster_name: String,
    /// Validity of leaf certificates in days (`pkiExpireDays`); the CA lives ten times longer.
    pub expire_days: i64,
    /// Names the API server serving certificate must carry.
    pub apiserver_names: SubjectNames,
    /// Names the etcd certificate must carry.
    pub etcd_names: SubjectNames,
    /// The items this tenant's provisioner needs.
    pub items: BTreeSet<PkiItem>,
    /// API server URL written into the admin kubeconfig.
    pub admin_server: String,
    /// API server URL written into the controller-manager kubeconfig.
    pub controller_manager_server: String,
}

/// Why an item is (re)issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssueReason {
    /// No secret holds it yet.
    Missing,
    /// The secret exists but its content cannot be used.
    Invalid(String),
    /// The root CA is new, so everything it signs is re-issued.
    CaChanged,
    /// The certificate was not signed by the current root CA.
    NotSignedByCa,
    /// Subject (user/groups) or key usages differ from what the tenant needs.
    SubjectChanged,
    /// Subject alternative names differ from what the tenant needs.
    NamesChanged,
    /// The kubeconfig points at another server or trusts another CA.
    EndpointChanged,
    /// At most 20% of the certificate's life is left.
    Expiring {
        /// End of validity (Unix seconds).
        not_after: i64,
    },
}

impl std::fmt::Display for IssueReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IssueReason::Missing => f.write_str("missing"),
            IssueReason::Invalid(r) => write!(f, "invalid ({r})"),
            IssueReason::CaChanged => f.write_str("root CA is new"),
            IssueReason::NotSignedByCa => f.write_str("not signed by the root CA"),
            IssueReason::SubjectChanged => f.write_str("subject or usages changed"),
            IssueReason::NamesChanged => f.write_str("subject alternative names changed"),
            IssueReason::EndpointChanged => f.write_str("server or CA changed"),
            IssueReason::Expiring { not_after } => {
                let when = Timestamp::from_second(*not_after)
                    .map(|t| t.to_string())
                    .unwrap_or_else(|_| not_after.to_string());
                write!(f, "expires at {when}")
            }
        }
    }
}

/// What [`plan`] decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PkiPlan {
    /// Items to issue now, root CA first.
    pub issue: Vec<(PkiItem, IssueReason)>,
    /// A problem only a person can fix; nothing is issued while it is set.
    pub blocked: Option<String>,
    /// When the earliest valid leaf reaches its renewal point (Unix seconds).
    pub next_renewal: Option<i64>,
}

impl PkiPlan {
    /// Whether the PKI is complete and current.
    pub fn is_ready(&self) -> bool {
        self.issue.is_empty() && self.blocked.is_none()
    }

    /// A one-line summary of what is issued and why, for events and conditions.
    pub fn summary(&self) -> String {
        self.issue
            .iter()
            .map(|(item, why)| format!("{item} ({why})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The leaf certificate an item needs (`None` for the CA and the service-account key).
pub fn leaf_spec(spec: &PkiSpec, item: PkiItem) -> Option<LeafSpec> {
    let leaf =
        |cn: &str, orgs: &[&str], names: SubjectNames, server: bool, client: bool| LeafSpec {
            common_name: cn.to_string(),
            organizations: orgs.iter().map(|o| o.to_string()).collect(),
            names,
            server_auth: server,
            client_auth: client,
            lifetime_days: spec.expire_days,
        };
    let none = SubjectNames::default;
    Some(match item {
        PkiItem::RootCa | PkiItem::ServiceAccount => return None,
        // Server and client auth: the API server also uses it as etcd client, as upstream does.
        PkiItem::ApiServer => leaf(
            &spec.cluster_key,
            &[],
            spec.apiserver_names.clone(),
            true,
            true,
        ),
        PkiItem::Etcd => leaf(ETCD_COMMON_NAME, &[], spec.etcd_names.clone(), true, true),
        PkiItem::FrontProxy => leaf(FRONT_PROXY_COMMON_NAME, &[], none(), false, true),
        PkiItem::KubeletClient => leaf(&spec.cluster_key, &[], none(), false, true),
        PkiItem::AdminKubeconfig => leaf(ADMIN_USER, &[ADMIN_GROUP], none(), false, true),
        PkiItem::ControllerManagerKubeconfig => {
            leaf(CONTROLLER_MANAGER_USER, &[], none(), false, true)
        }
    })
}

/// Decides what to issue given the stored secrets (by name) at `now` (Unix seconds).
pub fn plan(spec: &PkiSpec, stored: &BTreeMap<String, Secret>, now: i64) -> PkiPlan {
    let mut out = PkiPlan::default();
    let ca_pem = match stored.get(PkiItem::RootCa.secret_name()) {
        None => {
            out.issue.push((PkiItem::RootCa, IssueReason::Missing));
            None
        }
        Some(secret) => match check_ca(secret, now) {
            Ok(pem) => Some(pem),
            Err(problem) => {
                out.blocked = Some(problem);
                return out;
            }
        },
    };
    for item in spec.items.iter().copied().filter(|i| *i != PkiItem::RootCa) {
        let reason = match (stored.get(item.secret_name()), &ca_pem) {
            (None, _) => Some(IssueReason::Missing),
            (Some(_), None) if item != PkiItem::ServiceAccount => Some(IssueReason::CaChanged),
            (Some(secret), ca) => check_item(spec, item, secret, ca.as_deref(), now, &mut out),
        };
        if let Some(reason) = reason {
            out.issue.push((item, reason));
        }
    }
    out
}

/// Checks the stored root CA; `Err` is a message telling the operator what to do.
fn check_ca(secret: &Secret, now: i64) -> Result<String, String> {
    let ns = secret.metadata.namespace.as_deref().unwrap_or_default();
    let fix = format!(
        "fix secret root-ca in namespace {ns}, or delete it to have a new tenant PKI issued \
         (clients must then fetch new kubeconfigs)"
    );
    let (cert, key) = match secrets::read_tls(secret) {
        Some(pair) => pair,
        None => return Err(format!("secret root-ca lacks tls.crt or tls.key: {fix}")),
    };
    let info = inspect::parse_cert_pem(&cert).map_err(|e| format!("root CA {e}: {fix}"))?;
    if info.not_after <= now {
        return Err(format!("the root CA expired: {fix}"));
    }
    CaBundle::load(&cert, &key).map_err(|e| format!("root CA: {e}: {fix}"))?;
    Ok(cert)
}

fn check_item(
    spec: &PkiSpec,
    item: PkiItem,
    secret: &Secret,
    ca_pem: Option<&str>,
    now: i64,
    out: &mut PkiPlan,
) -> Option<IssueReason> {
    if item == PkiItem::ServiceAccount {
        return match secrets::read_tls(secret) {
            Some((_, key)) if common::pki::pem_block(&key, "key").is_ok() => None,
            _ => Some(IssueReason::Invalid(
                "tls.key holds no PEM private key".into(),
            )),
        };
    }
    let ca_pem = ca_pem?;
    let desired = leaf_spec(spec, item)?;
    let pair = if item.is_kubeconfig() {
        match read_kubeconfig(secret, item, spec, ca_pem) {
            Ok(pair) => pair,
            Err(reason) => return Some(reason),
        }
    } else {
        match secrets::read_tls(secret) {
            Some((cert_pem, key_pem)) => CertKey { cert_pem, key_pem },
            None => return Some(IssueReason::Invalid("tls.crt or tls.key is missing".into())),
        }
    };
    match check_leaf(&pair, &desired, ca_pem, now) {
        Ok(info) => {
            let renew_at = info.not_after - info.lifetime() * RENEW_AT_REMAINING_PERCENT / 100;
            out.next_renewal = Some(out.next_renewal.map_or(renew_at, |t| t.min(renew_at)));
            None
        }
        Err(reason) => Some(reason),
    }
}

fn read_kubeconfig(
    secret: &Secret,
    item: PkiItem,
    spec: &PkiSpec,
    ca_pem: &str,
) -> Result<CertKey, IssueReason> {
    let text = secrets::read_string(secret, item.secret_name())
        .ok_or_else(|| IssueReason::Invalid(format!("key {} is missing", item.secret_name())))?;
    let parsed = kubeconfig::parse(&text).map_err(|e| IssueReason::Invalid(e.to_string()))?;
    let server = match item {
        PkiItem::AdminKubeconfig => &spec.admin_server,
        _ => &spec.controller_manager_server,
    };
    if &parsed.server != server || parsed.ca_pem.as_deref().map(str::trim) != Some(ca_pem.trim()) {
        return Err(IssueReason::EndpointChanged);
    }
    match (parsed.client_cert_pem, parsed.client_key_pem) {
        (Some(cert_pem), Some(key_pem)) => Ok(CertKey { cert_pem, key_pem }),
        _ => Err(IssueReason::Invalid(
            "no embedded client certificate".into(),
        )),
    }
}

/// Checks a stored leaf against what it should be.
fn check_leaf(
    pair: &CertKey,
    desired: &LeafSpec,
    ca_pem: &str,
    now: i64,
) -> Result<CertInfo, IssueReason> {
    let info =
        inspect::parse_cert_pem(&pair.cert_pem).map_err(|e| IssueReason::Invalid(e.to_string()))?;
    let belongs = common::pki::key_belongs_to(&pair.key_pem, &info)
        .map_err(|e| IssueReason::Invalid(e.to_string()))?;
    if !belongs {
        return Err(IssueReason::Invalid(
            "the key does not belong to the certificate".into(),
        ));
    }
    if inspect::verify_signed_by(&pair.cert_pem, ca_pem).is_err() {
        return Err(IssueReason::NotSignedByCa);
    }
    if info.common_name.as_deref() != Some(desired.common_name.as_str())
        || info.organizations != desired.organizations
        || info.server_auth != desired.server_auth
        || info.client_auth != desired.client_auth
        || info.is_ca
    {
        return Err(IssueReason::SubjectChanged);
    }
    if info.dns != desired.names.dns || info.ips != desired.names.ips {
        return Err(IssueReason::NamesChanged);
    }
    if info.remaining(now) * 100 <= info.lifetime() * RENEW_AT_REMAINING_PERCENT {
        return Err(IssueReason::Expiring {
            not_after: info.not_after,
        });
    }
    Ok(info)
}

/// Issues the planned items and returns the secrets to write in `namespace`.
///
/// The root CA is generated when planned, otherwise loaded from `stored`.
pub fn execute(
    spec: &PkiSpec,
    plan: &PkiPlan,
    stored: &BTreeMap<String, Secret>,
    layout: &SecretLayout,
    now: Timestamp,
) -> Result<Vec<Secret>, PkiError> {
    let mut out = Vec::new();
    let ca = if plan.issue.iter().any(|(i, _)| *i == PkiItem::RootCa) {
        let ca = CaBundle::generate(
            "kubernetes",
            spec.expire_days.saturating_mul(CA_LIFETIME_FACTOR),
            now,
        )?;
        out.push(layout.tls(PkiItem::RootCa, &ca.pem));
        ca
    } else {
        let secret =
            stored
                .get(PkiItem::RootCa.secret_name())
                .ok_or_else(|| PkiError::Invalid {
                    what: "root-ca".into(),
                    reason: "secret disappeared".into(),
                })?;
        let (cert, key) = secrets::read_tls(secret).ok_or_else(|| PkiError::Invalid {
            what: "root-ca".into(),
            reason: "tls.crt or tls.key is missing".into(),
        })?;
        CaBundle::load(&cert, &key)?
    };
    for (item, _) in plan.issue.iter().filter(|(i, _)| *i != PkiItem::RootCa) {
        out.push(issue_item(spec, *item, &ca, layout, now)?);
    }
    Ok(out)
}

fn issue_item(
    spec: &PkiSpec,
    item: PkiItem,
    ca: &CaBundle,
    layout: &SecretLayout,
    now: Timestamp,
) -> Result<Secret, PkiError> {
    if item == PkiItem::ServiceAccount {
        return Ok(layout.tls(item, &issue::service_account_key()?));
    }
    let Some(desired) = leaf_spec(spec, item) else {
        return Err(PkiError::Invalid {
            what: item.to_string(),
            reason: "not a leaf certificate".into(),
        });
    };
    let pair = ca.issue(&desired, now)?;
    if !item.is_kubeconfig() {
        return Ok(layout.tls(item, &pair));
    }
    let server = match item {
        PkiItem::AdminKubeconfig => &spec.admin_server,
        _ => &spec.controller_manager_server,
    };
    let text = kubeconfig::render(&KubeconfigParams {
        cluster_name: &spec.cluster_name,
        server,
        ca_pem: &ca.pem.cert_pem,
        user: &desired.common_name,
        client: &pair,
    })?;
    Ok(layout.kubeconfig(item, &text))
}
