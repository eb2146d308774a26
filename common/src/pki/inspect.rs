//! Reading certificates back (x509-parser): subject, names, usages, validity and issuer, as
//! renewal decisions and tests need them.

use std::collections::BTreeSet;
use std::net::IpAddr;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::PkiError;
use super::pem::cert_der;

/// The facts of a certificate that decide whether it is still what it should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject common name.
    pub common_name: Option<String>,
    /// Subject organizations.
    pub organizations: Vec<String>,
    /// Issuer common name.
    pub issuer_common_name: Option<String>,
    /// Start of validity (Unix seconds).
    pub not_before: i64,
    /// End of validity (Unix seconds).
    pub not_after: i64,
    /// Basic constraints say CA.
    pub is_ca: bool,
    /// DNS subject alternative names.
    pub dns: BTreeSet<String>,
    /// IP subject alternative names.
    pub ips: BTreeSet<IpAddr>,
    /// Extended key usage `serverAuth`.
    pub server_auth: bool,
    /// Extended key usage `clientAuth`.
    pub client_auth: bool,
    /// Key usage `digitalSignature`.
    pub digital_signature: bool,
    /// Key usage `keyCertSign`.
    pub key_cert_sign: bool,
    /// The subject public key (the BIT STRING content of the SPKI).
    pub public_key: Vec<u8>,
}

impl CertInfo {
    /// Seconds of validity left at `now` (negative once expired).
    pub fn remaining(&self, now: i64) -> i64 {
        self.not_after - now
    }

    /// Total validity in seconds.
    pub fn lifetime(&self) -> i64 {
        self.not_after - self.not_before
    }
}

/// Parses the first certificate of a PEM text.
pub fn parse_cert_pem(pem_text: &str) -> Result<CertInfo, PkiError> {
    let der = cert_der(pem_text)?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| invalid(&e.to_string()))?;
    describe(&cert)
}

fn describe(cert: &X509Certificate<'_>) -> Result<CertInfo, PkiError> {
    let first_cn = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string)
    };
    let mut info = CertInfo {
        common_name: first_cn(cert.subject()),
        organizations: cert
            .subject()
            .iter_organization()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect(),
        issuer_common_name: first_cn(cert.issuer()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        is_ca: cert.is_ca(),
        dns: BTreeSet::new(),
        ips: BTreeSet::new(),
        server_auth: false,
        client_auth: false,
        digital_signature: false,
        key_cert_sign: false,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    };
    if let Some(san) = cert
        .subject_alternative_name()
        .map_err(|e| invalid(&e.to_string()))?
    {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => {
                    info.dns.insert(d.to_ascii_lowercase());
                }
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        info.ips.insert(ip);
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(eku) = cert
        .extended_key_usage()
        .map_err(|e| invalid(&e.to_string()))?
    {
        info.server_auth = eku.value.server_auth || eku.value.any;
        info.client_auth = eku.value.client_auth || eku.value.any;
    }
    if let Some(ku) = cert.key_usage().map_err(|e| invalid(&e.to_string()))? {
        info.digital_signature = ku.value.digital_signature();
        info.key_cert_sign = ku.value.key_cert_sign();
    }
    Ok(info)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Checks that `cert_pem` carries a valid signature by the CA in `ca_pem`.
pub fn verify_signed_by(cert_pem: &str, ca_pem: &str) -> Result<(), PkiError> {
    let der = cert_der(cert_pem)?;
    let ca_der = cert_der(ca_pem)?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| invalid(&e.to_string()))?;
    let (_, ca) = X509Certificate::from_der(&ca_der).map_err(|e| invalid(&e.to_string()))?;
    if cert.issuer() != ca.subject() {
        return Err(invalid("the issuer name is not the CA's subject"));
    }
    cert.verify_signature(Some(ca.public_key()))
        .map_err(|e| invalid(&format!("signature does not verify with the CA: {e}")))
}

fn invalid(reason: &str) -> PkiError {
    super::error::invalid("certificate", reason)
}
