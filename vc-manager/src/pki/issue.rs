//! The tenant PKI's use of the shared issuer (`common::pki`): the tenant CA and its leaves with
//! lifetimes in days from a given instant, backdated by [`BACKDATE_SECONDS`], and the
//! service-account signing key.

use jiff::Timestamp;

use common::pki::{Ca, PkiError, Validity};

use super::lifetime::BACKDATE_SECONDS;
use super::subject::SubjectNames;

pub use common::pki::CertKey;

/// What a leaf certificate says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafSpec {
    /// Subject common name (the user name for client certificates).
    pub common_name: String,
    /// Subject organizations (the groups for client certificates).
    pub organizations: Vec<String>,
    /// Subject alternative names (serving certificates).
    pub names: SubjectNames,
    /// Whether the certificate may serve TLS (`serverAuth`).
    pub server_auth: bool,
    /// Whether the certificate may authenticate a TLS client (`clientAuth`).
    pub client_auth: bool,
    /// Validity in days.
    pub lifetime_days: i64,
}

/// The tenant CA, ready to sign.
#[derive(Debug)]
pub struct CaBundle {
    /// The CA certificate and key as stored.
    pub pem: CertKey,
    ca: Ca,
}

impl CaBundle {
    /// Generates a new self-signed CA valid for `lifetime_days` from `now`.
    pub fn generate(
        common_name: &str,
        lifetime_days: i64,
        now: Timestamp,
    ) -> Result<Self, PkiError> {
        let validity = Validity::days_from(now, BACKDATE_SECONDS, lifetime_days)?;
        Ok(CaBundle::from(Ca::generate(common_name, validity)?))
    }

    /// Loads a stored CA. Keys may be PKCS#8 or, as upstream VirtualCluster wrote them, PKCS#1 RSA.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        Ok(CaBundle::from(Ca::from_pem(cert_pem, key_pem)?))
    }

    /// Issues a leaf certificate with a fresh key, valid from `now` for `spec.lifetime_days`.
    pub fn issue(&self, spec: &LeafSpec, now: Timestamp) -> Result<CertKey, PkiError> {
        let leaf = common::pki::LeafSpec {
            common_name: spec.common_name.clone(),
            organizations: spec.organizations.clone(),
            dns_names: spec.names.dns.iter().cloned().collect(),
            ips: spec.names.ips.iter().copied().collect(),
            server_auth: spec.server_auth,
            client_auth: spec.client_auth,
            validity: Validity::days_from(now, BACKDATE_SECONDS, spec.lifetime_days)?,
        };
        self.ca.issue(&leaf)
    }
}

impl From<Ca> for CaBundle {
    fn from(ca: Ca) -> Self {
        CaBundle {
            pem: ca.pem().clone(),
            ca,
        }
    }
}

/// Generates the service-account token signing key: PEM private key and PEM public key.
pub fn service_account_key() -> Result<CertKey, PkiError> {
    let key = common::pki::signing_key()?;
    Ok(CertKey {
        cert_pem: key.public_key_pem,
        key_pem: key.key_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_roundtrips_through_pem() {
        let now = Timestamp::now();
        let ca = CaBundle::generate("kubernetes", 10, now).unwrap();
        let loaded = CaBundle::load(&ca.pem.cert_pem, &ca.pem.key_pem).unwrap();
        let leaf = loaded
            .issue(
                &LeafSpec {
                    common_name: "x".into(),
                    organizations: vec![],
                    names: SubjectNames::default(),
                    server_auth: false,
                    client_auth: true,
                    lifetime_days: 1,
                },
                now,
            )
            .unwrap();
        assert!(super::super::inspect::verify_signed_by(&leaf.cert_pem, &ca.pem.cert_pem).is_ok());
    }

    #[test]
    fn mismatched_ca_key_is_refused() {
        let now = Timestamp::now();
        let a = CaBundle::generate("a", 10, now).unwrap();
        let b = CaBundle::generate("b", 10, now).unwrap();
        let err = CaBundle::load(&a.pem.cert_pem, &b.pem.key_pem).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }
}
