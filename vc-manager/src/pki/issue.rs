//! Issuing certificates and keys with rcgen (ring): the tenant CA, leaves signed by it, and the
//! service-account signing key.

use jiff::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::SecureRandom;

use super::{BACKDATE_SECONDS, PkiError, SubjectNames};

/// A PEM certificate (or public key) and its PEM private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertKey {
    /// PEM certificate (for the service-account key: the PEM public key).
    pub cert_pem: String,
    /// PEM private key (PKCS#8).
    pub key_pem: String,
}

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
pub struct CaBundle {
    /// The CA certificate and key as stored.
    pub pem: CertKey,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaBundle")
            .field("cert_pem", &self.pem.cert_pem)
            .finish_non_exhaustive()
    }
}

impl CaBundle {
    /// Generates a new self-signed CA valid for `lifetime_days` from `now`.
    pub fn generate(
        common_name: &str,
        lifetime_days: i64,
        now: Timestamp,
    ) -> Result<Self, PkiError> {
        let key = new_key("CA key")?;
        let mut params = base_params(common_name, &[], lifetime_days, now)?;
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
        let pem = CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        Ok(CaBundle {
            pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a stored CA. Keys may be PKCS#8 or, as upstream VirtualCluster wrote them, PKCS#1 RSA.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = load_key(key_pem)?;
        let info = super::inspect::parse_cert_pem(cert_pem)?;
        if !info.is_ca {
            return Err(invalid("root-ca tls.crt", "the certificate is not a CA"));
        }
        if info.public_key != key.public_key_raw() {
            return Err(invalid(
                "root-ca",
                "tls.key does not belong to the certificate in tls.crt",
            ));
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
            .map_err(|e| invalid("root-ca tls.crt", &e.to_string()))?;
        Ok(CaBundle {
            pem: CertKey {
                cert_pem: cert_pem.to_string(),
                key_pem: key_pem.to_string(),
            },
            issuer,
        })
    }

    /// Issues a leaf certificate with a fresh key, valid from `now` for `spec.lifetime_days`.
    pub fn issue(&self, spec: &LeafSpec, now: Timestamp) -> Result<CertKey, PkiError> {
        let what = format!("certificate for {}", spec.common_name);
        let key = new_key(&what)?;
        let orgs: Vec<&str> = spec.organizations.iter().map(String::as_str).collect();
        let mut params = base_params(&spec.common_name, &orgs, spec.lifetime_days, now)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if spec.server_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if spec.client_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        params.use_authority_key_identifier_extension = true;
        for dns in &spec.names.dns {
            let name = dns
                .clone()
                .try_into()
                .map_err(|e: rcgen::Error| invalid(&format!("DNS name {dns:?}"), &e.to_string()))?;
            params.subject_alt_names.push(SanType::DnsName(name));
        }
        for ip in &spec.names.ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|source| PkiError::Generate { what, source })?;
        Ok(CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Generates the service-account token signing key: PEM private key and PEM public key.
pub fn service_account_key() -> Result<CertKey, PkiError> {
    let key = new_key("service-account key")?;
    Ok(CertKey {
        cert_pem: key.public_key_pem(),
        key_pem: key.serialize_pem(),
    })
}

fn new_key(what: &str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Generate {
        what: what.to_string(),
        source,
    })
}

/// Subject, serial and validity shared by CA and leaves.
fn base_params(
    common_name: &str,
    organizations: &[&str],
    lifetime_days: i64,
    now: Timestamp,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for org in organizations {
        dn.push(DnType::OrganizationName, *org);
    }
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.serial_number = Some(random_serial()?);
    let start = now.as_second();
    params.not_before = to_offset(start - BACKDATE_SECONDS)?;
    params.not_after = to_offset(start + lifetime_days.max(1) * 86_400)?;
    Ok(params)
}

fn to_offset(unix: i64) -> Result<time::OffsetDateTime, PkiError> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| invalid("certificate validity", &e.to_string()))
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

/// Reads a PEM private key; PKCS#1 RSA keys are wrapped into PKCS#8 so ring can sign with them.
pub fn load_key(key_pem: &str) -> Result<KeyPair, PkiError> {
    let block = pem_block(key_pem, "private key")?;
    let der = match block.0.as_str() {
        "PRIVATE KEY" => block.1,
        "RSA PRIVATE KEY" => pkcs1_to_pkcs8(&block.1),
        other => {
            return Err(invalid(
                "private key",
                &format!("PEM block {other:?} is not supported; use PKCS#8 (\"PRIVATE KEY\")"),
            ));
        }
    };
    KeyPair::try_from(der.as_slice()).map_err(|e| invalid("private key", &e.to_string()))
}

/// The first PEM block of `text`: its label and decoded bytes.
pub fn pem_block(text: &str, what: &str) -> Result<(String, Vec<u8>), PkiError> {
    use base64::Engine;
    let mut label = None;
    let mut body = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_string());
            continue;
        }
        if line.starts_with("-----END ") {
            break;
        }
        if label.is_some() {
            body.push_str(line);
        }
    }
    let label = label.ok_or_else(|| invalid(what, "no PEM block found"))?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| invalid(what, &format!("bad base64 in PEM: {e}")))?;
    Ok((label, der))
}

/// Wraps a PKCS#1 RSAPrivateKey into a PKCS#8 PrivateKeyInfo (RFC 5208).
fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    const RSA_ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut content = vec![0x02, 0x01, 0x00];
    content.extend_from_slice(&RSA_ALGORITHM);
    content.extend(der_tlv(0x04, pkcs1));
    der_tlv(0x30, &content)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn invalid(what: &str, reason: &str) -> PkiError {
    PkiError::Invalid {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(der_tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = vec![0u8; 300];
        let tlv = der_tlv(0x04, &long);
        assert_eq!(&tlv[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(tlv.len(), 304);
    }

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

    #[test]
    fn unsupported_key_block_is_explained() {
        let err = load_key("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
            .unwrap_err();
        assert!(err.to_string().contains("PKCS#8"), "{err}");
        assert!(load_key("garbage").is_err());
    }
}
