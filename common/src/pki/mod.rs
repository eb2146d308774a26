//! The one certificate issuer of the project (rcgen on ring): a CA, leaf certificates it signs
//! (subject CN/O, DNS and IP names, server/client usages, validity), self-signed leaves and
//! signing keys, all as PEM; CAs load back from PEM, including upstream VirtualCluster's PKCS#1
//! RSA root CAs.
//!
//! Every generated key is ECDSA P-256 in PKCS#8: ring cannot generate RSA keys, and Kubernetes
//! accepts P-256 for TLS and for service-account tokens (ES256). Leaves carry only the
//! `digitalSignature` key usage, the one RFC 5480 allows for an EC key in TLS.

mod error;
pub mod inspect;
pub mod pem;
mod request;

use std::net::IpAddr;

use jiff::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::SecureRandom;

pub use error::PkiError;
use error::invalid;
pub use pem::pem_block;
pub use request::{Grant, RequestInfo, Usage, parse_request_pem};

/// A PEM certificate and its PEM private key (PKCS#8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertKey {
    /// PEM certificate.
    pub cert_pem: String,
    /// PEM private key.
    pub key_pem: String,
}

/// When a certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// From 1975 to 4096 (rcgen's default): for material issued afresh at every start.
    Unlimited,
    /// Between two instants.
    Window {
        /// Start of validity.
        not_before: Timestamp,
        /// End of validity.
        not_after: Timestamp,
    },
}

impl Validity {
    /// `days` (at least one) from `now`, starting `backdate_seconds` earlier so that machines
    /// whose clocks lag accept the certificate at once.
    pub fn days_from(now: Timestamp, backdate_seconds: i64, days: i64) -> Result<Self, PkiError> {
        let at = |unix: i64| {
            Timestamp::from_second(unix)
                .map_err(|e| invalid("certificate validity", &e.to_string()))
        };
        let start = now.as_second();
        Ok(Validity::Window {
            not_before: at(start.saturating_sub(backdate_seconds))?,
            not_after: at(start.saturating_add(days.max(1).saturating_mul(86_400)))?,
        })
    }

    fn apply(self, params: &mut CertificateParams) -> Result<(), PkiError> {
        if let Validity::Window {
            not_before,
            not_after,
        } = self
        {
            params.not_before = offset(not_before)?;
            params.not_after = offset(not_after)?;
        }
        Ok(())
    }
}

fn offset(t: Timestamp) -> Result<time::OffsetDateTime, PkiError> {
    time::OffsetDateTime::from_unix_timestamp(t.as_second())
        .map_err(|e| invalid("certificate validity", &e.to_string()))
}

/// What a leaf certificate says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafSpec {
    /// Subject common name (the user name of a client certificate).
    pub common_name: String,
    /// Subject organizations (the groups of a client certificate).
    pub organizations: Vec<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ips: Vec<IpAddr>,
    /// Whether the certificate may serve TLS (`serverAuth`).
    pub server_auth: bool,
    /// Whether the certificate may authenticate a TLS client (`clientAuth`).
    pub client_auth: bool,
    /// When the certificate is valid.
    pub validity: Validity,
}

impl LeafSpec {
    /// A serving certificate (`serverAuth`) with no names yet, valid without limit.
    pub fn server(common_name: &str) -> Self {
        LeafSpec {
            server_auth: true,
            client_auth: false,
            ..LeafSpec::client(common_name)
        }
    }

    /// A client certificate (`clientAuth`) with no groups yet, valid without limit.
    pub fn client(common_name: &str) -> Self {
        LeafSpec {
            common_name: common_name.to_string(),
            organizations: Vec::new(),
            dns_names: Vec::new(),
            ips: Vec::new(),
            server_auth: false,
            client_auth: true,
            validity: Validity::Unlimited,
        }
    }

    /// Adds subject organizations (a client certificate's groups).
    pub fn with_organizations<S: Into<String>>(
        mut self,
        orgs: impl IntoIterator<Item = S>,
    ) -> Self {
        self.organizations.extend(orgs.into_iter().map(Into::into));
        self
    }

    /// Adds subject alternative names: an IP address when it parses as one, a DNS name otherwise.
    pub fn with_names<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        for name in names {
            match name.as_ref().parse::<IpAddr>() {
                Ok(ip) => self.ips.push(ip),
                Err(_) => self.dns_names.push(name.as_ref().to_string()),
            }
        }
        self
    }

    /// Sets when the certificate is valid.
    pub fn with_validity(mut self, validity: Validity) -> Self {
        self.validity = validity;
        self
    }

    /// The rcgen parameters of this leaf (without issuer).
    fn params(&self) -> Result<CertificateParams, PkiError> {
        let orgs: Vec<&str> = self.organizations.iter().map(String::as_str).collect();
        let mut params = base_params(&self.common_name, &orgs, self.validity)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if self.server_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if self.client_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        for dns in &self.dns_names {
            let name = dns
                .clone()
                .try_into()
                .map_err(|e: rcgen::Error| invalid(&format!("DNS name {dns:?}"), &e.to_string()))?;
            params.subject_alt_names.push(SanType::DnsName(name));
        }
        for ip in &self.ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        Ok(params)
    }
}

/// A CA, ready to sign.
pub struct Ca {
    pem: CertKey,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("cert_pem", &self.pem.cert_pem)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// Generates a new self-signed CA.
    pub fn generate(common_name: &str, validity: Validity) -> Result<Self, PkiError> {
        let key = new_key("CA key")?;
        let mut params = base_params(common_name, &[], validity)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let cert = params
            .self_signed(&key)
            .map_err(|source| PkiError::Generate {
                what: "CA certificate".into(),
                source,
            })?;
        Ok(Ca {
            pem: CertKey {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            },
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a stored CA, refusing a certificate that is no CA or a key that is not its own.
    /// Keys may be PKCS#8 or PKCS#1 RSA.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = pem::load_key(key_pem)?;
        let info = inspect::parse_cert_pem(cert_pem)?;
        if !info.is_ca {
            return Err(invalid("CA certificate", "the certificate is not a CA"));
        }
        if info.public_key != key.public_key_raw() {
            return Err(invalid(
                "CA",
                "the key does not belong to the CA certificate",
            ));
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
            .map_err(|e| invalid("CA certificate", &e.to_string()))?;
        Ok(Ca {
            pem: CertKey {
                cert_pem: cert_pem.to_string(),
                key_pem: key_pem.to_string(),
            },
            issuer,
        })
    }

    /// The CA certificate and key as PEM.
    pub fn pem(&self) -> &CertKey {
        &self.pem
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.pem.cert_pem
    }

    /// Signs a PEM certificate signing request with what a signer granted: the requested
    /// subject and alternative names, the granted usages and validity (never a CA), returning
    /// the PEM certificate. The request's signature must verify.
    pub fn sign_request(&self, csr_pem: &str, grant: &Grant) -> Result<String, PkiError> {
        let what = "certificate for a signing request";
        parse_request_pem(csr_pem)?;
        let mut csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| invalid("certificate request", &e.to_string()))?;
        let params = &mut csr.params;
        params.is_ca = IsCa::ExplicitNoCa;
        params.serial_number = Some(random_serial()?);
        params.not_before = offset(grant.not_before)?;
        params.not_after = offset(grant.not_after)?;
        params.use_authority_key_identifier_extension = true;
        params.key_usages.clear();
        params.extended_key_usages.clear();
        for usage in &grant.usages {
            match usage {
                Usage::DigitalSignature => {
                    params.key_usages.push(KeyUsagePurpose::DigitalSignature)
                }
                Usage::KeyEncipherment => params.key_usages.push(KeyUsagePurpose::KeyEncipherment),
                Usage::ClientAuth => params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ClientAuth),
                Usage::ServerAuth => params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ServerAuth),
            }
        }
        let cert = csr
            .signed_by(&self.issuer)
            .map_err(|source| PkiError::Generate {
                what: what.into(),
                source,
            })?;
        Ok(cert.pem())
    }

    /// Issues a leaf certificate with a fresh key.
    pub fn issue(&self, spec: &LeafSpec) -> Result<CertKey, PkiError> {
        let what = format!("certificate for {}", spec.common_name);
        let key = new_key(&what)?;
        let mut params = spec.params()?;
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|source| PkiError::Generate { what, source })?;
        Ok(CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Issues a self-signed leaf certificate (what a kubelet or vn-agent serves without a given one).
pub fn self_signed(spec: &LeafSpec) -> Result<CertKey, PkiError> {
    let what = format!("self-signed certificate for {}", spec.common_name);
    let key = new_key(&what)?;
    let cert = spec
        .params()?
        .self_signed(&key)
        .map_err(|source| PkiError::Generate { what, source })?;
    Ok(CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A PEM certificate signing request (PKCS#10) and its PEM private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestKey {
    /// PEM `CERTIFICATE REQUEST`.
    pub csr_pem: String,
    /// PEM private key (PKCS#8).
    pub key_pem: String,
}

/// A certificate signing request for `spec`'s subject, names and usages, with a fresh key (what
/// a client posts as a `CertificateSigningRequest`).
pub fn certificate_request(spec: &LeafSpec) -> Result<RequestKey, PkiError> {
    let what = format!("certificate request for {}", spec.common_name);
    let key = new_key(&what)?;
    let generate = |source| PkiError::Generate {
        what: what.clone(),
        source,
    };
    let mut params = spec.params()?;
    // The issuer picks the serial; a CSR cannot carry one.
    params.serial_number = None;
    let csr_pem = params
        .serialize_request(&key)
        .map_err(generate)?
        .pem()
        .map_err(generate)?;
    Ok(RequestKey {
        csr_pem,
        key_pem: key.serialize_pem(),
    })
}

/// A signing key without a certificate (service-account tokens), as PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    /// PEM private key (PKCS#8).
    pub key_pem: String,
    /// PEM public key (SubjectPublicKeyInfo).
    pub public_key_pem: String,
}

/// Generates a signing key.
pub fn signing_key() -> Result<SigningKey, PkiError> {
    let key = new_key("signing key")?;
    Ok(SigningKey {
        key_pem: key.serialize_pem(),
        public_key_pem: key.public_key_pem(),
    })
}

/// The PEM public key of a PEM private key (PKCS#8 or PKCS#1 RSA).
pub fn public_key_pem(key_pem: &str) -> Result<String, PkiError> {
    Ok(pem::load_key(key_pem)?.public_key_pem())
}

/// Whether a PEM private key belongs to the certificate described by `cert`.
pub fn key_belongs_to(key_pem: &str, cert: &inspect::CertInfo) -> Result<bool, PkiError> {
    Ok(pem::load_key(key_pem)?.public_key_raw() == cert.public_key.as_slice())
}

fn new_key(what: &str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Generate {
        what: what.to_string(),
        source,
    })
}

/// Subject, serial and validity shared by CAs and leaves.
fn base_params(
    common_name: &str,
    organizations: &[&str],
    validity: Validity,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for org in organizations {
        dn.push(DnType::OrganizationName, *org);
    }
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.serial_number = Some(random_serial()?);
    validity.apply(&mut params)?;
    Ok(params)
}

/// A positive 128-bit serial number (RFC 5280 asks for at most 20 octets, unpredictable).
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests;
