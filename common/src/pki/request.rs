//! Certificate signing requests as a signer judges them: what a PKCS#10 request asks for
//! (subject and alternative names, read with x509-parser after its signature is checked), and
//! what the signer grants (usages and validity), which [`super::Ca::sign_request`] issues.

use std::net::IpAddr;

use jiff::Timestamp;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::error::{PkiError, invalid};
use super::pem::pem_block;

/// What a certificate signing request asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// Subject common name ("" when absent).
    pub common_name: String,
    /// Subject organizations, in order.
    pub organizations: Vec<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// Email subject alternative names.
    pub emails: Vec<String>,
    /// URI subject alternative names.
    pub uris: Vec<String>,
}

/// A usage a signer may grant (the `spec.usages` values Kubernetes signers accept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// Key usage `digitalSignature`.
    DigitalSignature,
    /// Key usage `keyEncipherment`.
    KeyEncipherment,
    /// Extended key usage `clientAuth`.
    ClientAuth,
    /// Extended key usage `serverAuth`.
    ServerAuth,
}

/// What a signer grants: the certificate's usages and validity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Usages the certificate carries.
    pub usages: Vec<Usage>,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
}

/// Parses a PEM `CERTIFICATE REQUEST`, refusing one whose signature does not verify (the
/// requester must hold the key it asks a certificate for).
pub fn parse_request_pem(pem_text: &str) -> Result<RequestInfo, PkiError> {
    let what = "certificate request";
    let (label, der) = pem_block(pem_text, what)?;
    if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
        return Err(invalid(
            what,
            &format!("PEM block type must be CERTIFICATE REQUEST, not {label}"),
        ));
    }
    let (_, csr) =
        X509CertificationRequest::from_der(&der).map_err(|e| invalid(what, &e.to_string()))?;
    csr.verify_signature()
        .map_err(|e| invalid(what, &format!("signature does not verify: {e}")))?;
    let subject = &csr.certification_request_info.subject;
    let mut info = RequestInfo {
        common_name: subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap_or_default()
            .to_string(),
        organizations: subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect(),
        ..RequestInfo::default()
    };
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                add_name(&mut info, name);
            }
        }
    }
    Ok(info)
}

fn add_name(info: &mut RequestInfo, name: &GeneralName<'_>) {
    match name {
        GeneralName::DNSName(d) => info.dns_names.push(d.to_string()),
        GeneralName::RFC822Name(e) => info.emails.push(e.to_string()),
        GeneralName::URI(u) => info.uris.push(u.to_string()),
        GeneralName::IPAddress(bytes) => {
            let ip = match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                _ => None,
            };
            info.ip_addresses.extend(ip);
        }
        _ => {}
    }
}
