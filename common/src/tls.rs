//! TLS helpers: PEM parsing (certificates, private keys of any type), rustls server and client
//! configurations on the `ring` provider, the one verifier accepting any server certificate,
//! and reading a certificate's subject.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// Errors of the TLS helpers.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// PEM text holds no certificate.
    #[error("no PEM certificate found in {0}")]
    NoCertificate(String),
    /// PEM text is malformed.
    #[error("invalid PEM in {what}: {source}")]
    Pem {
        /// What was parsed.
        what: String,
        /// The parser's complaint.
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate is not valid X.509 DER.
    #[error("invalid X.509 certificate: {0}")]
    X509(String),
    /// A CA certificate cannot be used as a trust anchor.
    #[error("unusable CA certificate: {0}")]
    TrustAnchor(rustls::Error),
    /// rustls rejected the configuration (key does not match, unsupported key type, ...).
    #[error("TLS configuration rejected: {0}")]
    Config(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The process's crypto provider: always `ring`.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in PEM text, in order (a chain: leaf first). At least one is required.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            what: "certificate PEM".into(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate("certificate PEM".into()));
    }
    Ok(certs)
}

/// The first private key in PEM text: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub fn private_key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| TlsError::Pem {
        what: "private key PEM".into(),
        source,
    })
}

/// Reads a PEM certificate (chain) file.
pub fn certs_from_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = read(path)?;
    certs_from_pem(&data).map_err(|e| match e {
        TlsError::NoCertificate(_) => TlsError::NoCertificate(path.display().to_string()),
        TlsError::Pem { source, .. } => TlsError::Pem {
            what: path.display().to_string(),
            source,
        },
        other => other,
    })
}

/// Reads a PEM private key file.
pub fn private_key_from_file(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = read(path)?;
    private_key_from_pem(&data).map_err(|e| match e {
        TlsError::Pem { source, .. } => TlsError::Pem {
            what: path.display().to_string(),
            source,
        },
        other => other,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// A root store holding `cas` as trust anchors.
pub fn root_store(cas: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for ca in cas {
        store.add(ca.clone()).map_err(TlsError::TrustAnchor)?;
    }
    Ok(store)
}

/// How a server treats client certificates.
#[derive(Clone)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A client certificate chaining to one of these roots is required.
    Required(RootCertStore),
    /// A client certificate is asked for; when given it must chain to these roots.
    Optional(RootCertStore),
    /// A caller-provided verifier decides.
    Custom(Arc<dyn ClientCertVerifier>),
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::None => f.write_str("None"),
            ClientAuth::Required(r) => write!(f, "Required({} roots)", r.len()),
            ClientAuth::Optional(r) => write!(f, "Optional({} roots)", r.len()),
            ClientAuth::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// A rustls server configuration with `chain`/`key`, the given client authentication and ALPN
/// protocols (e.g. `[b"h2", b"http/1.1"]`; empty: no ALPN).
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_auth: ClientAuth,
    alpn: &[&[u8]],
) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let verifier: Arc<dyn ClientCertVerifier> = match client_auth {
        ClientAuth::None => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::Required(roots) => {
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()?
        }
        ClientAuth::Optional(roots) => {
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()?
        }
        ClientAuth::Custom(v) => v,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// How a client checks the server's certificate.
#[derive(Clone, Debug)]
pub enum ServerVerification {
    /// The server certificate must chain to these roots and match the server name.
    Roots(RootCertStore),
    /// Any server certificate is accepted (handshake signatures are still checked), with
    /// [`AcceptAnyServerCert`].
    Insecure,
}

/// A rustls client configuration: server verification, an optional client certificate
/// (`chain`, `key`) and ALPN protocols.
pub fn client_config(
    verification: ServerVerification,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    alpn: &[&[u8]],
) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder =
        ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
    let builder = match verification {
        ServerVerification::Roots(roots) => builder.with_root_certificates(roots),
        ServerVerification::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert::new())),
    };
    let mut config = match client_cert {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Checks TLS handshake signatures with the process provider's algorithms: the part every
/// custom verifier shares, so that a peer must hold the key of the certificate it shows.
#[derive(Clone, Debug)]
pub struct HandshakeSignatures {
    provider: Arc<CryptoProvider>,
}

impl HandshakeSignatures {
    /// Checks with the `ring` provider's algorithms.
    pub fn new() -> Self {
        HandshakeSignatures {
            provider: provider(),
        }
    }

    /// Verifies a TLS 1.2 handshake signature.
    pub fn verify_tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    /// Verifies a TLS 1.3 handshake signature.
    pub fn verify_tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    /// The signature schemes that can be verified.
    pub fn schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl Default for HandshakeSignatures {
    fn default() -> Self {
        HandshakeSignatures::new()
    }
}

/// Accepts any server certificate but still verifies the handshake signatures. This is what
/// kube-apiserver does towards kubelets without `--kubelet-certificate-authority`, since kubelet
/// serving certificates are often self-signed.
#[derive(Debug, Default)]
pub struct AcceptAnyServerCert {
    signatures: HandshakeSignatures,
}

impl AcceptAnyServerCert {
    /// A verifier checking signatures with the `ring` provider.
    pub fn new() -> Self {
        AcceptAnyServerCert::default()
    }
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.schemes()
    }
}

/// The subject fields Kubernetes reads from a client certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertSubject {
    /// The (first) common name: the user name, or for vn-agent the tenant's cluster key.
    pub common_name: Option<String>,
    /// The organizations: the groups.
    pub organizations: Vec<String>,
}

/// Reads the subject CN and O values of a DER certificate.
pub fn cert_subject(cert: &CertificateDer<'_>) -> Result<CertSubject, TlsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| TlsError::X509(e.to_string()))?;
    let subject = parsed.subject();
    let common_name = subject
        .iter_common_name()
        .next()
        .map(|cn| cn.as_str().map(str::to_string))
        .transpose()
        .map_err(|e| TlsError::X509(format!("subject CN is not a string: {e}")))?;
    let organizations = subject
        .iter_organization()
        .map(|o| o.as_str().map(str::to_string))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::X509(format!("subject O is not a string: {e}")))?;
    Ok(CertSubject {
        common_name,
        organizations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::pki::{Ca, LeafSpec, Validity};

    fn ca() -> Ca {
        Ca::generate("test-ca", Validity::Unlimited).unwrap()
    }

    #[test]
    fn parses_chains_and_keys_of_every_type() {
        let ca = ca();
        let two = format!("{}{}", ca.cert_pem(), ca.cert_pem());
        assert_eq!(certs_from_pem(two.as_bytes()).unwrap().len(), 2);
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            assert!(private_key_from_pem(key.serialize_pem().as_bytes()).is_ok());
        }
        assert!(matches!(
            certs_from_pem(b"nothing here"),
            Err(TlsError::NoCertificate(_))
        ));
        assert!(private_key_from_pem(b"-----BEGIN CERTIFICATE-----\n").is_err());
    }

    #[test]
    fn reads_cn_and_organizations() {
        let leaf = ca()
            .issue(&LeafSpec::client("admin").with_organizations(["system:masters"]))
            .unwrap();
        let der = certs_from_pem(leaf.cert_pem.as_bytes()).unwrap();
        let subject = cert_subject(&der[0]).unwrap();
        assert_eq!(subject.common_name.as_deref(), Some("admin"));
        assert_eq!(subject.organizations, vec!["system:masters".to_string()]);
        assert!(cert_subject(&CertificateDer::from(vec![1, 2, 3])).is_err());
    }

    #[test]
    fn builds_server_and_client_configs() {
        let ca = ca();
        let leaf = ca
            .issue(&LeafSpec::server("localhost").with_names(["localhost"]))
            .unwrap();
        let chain = certs_from_pem(leaf.cert_pem.as_bytes()).unwrap();
        let key = private_key_from_pem(leaf.key_pem.as_bytes()).unwrap();
        let roots = root_store(&certs_from_pem(ca.cert_pem().as_bytes()).unwrap()).unwrap();
        for auth in [
            ClientAuth::None,
            ClientAuth::Required(roots.clone()),
            ClientAuth::Optional(roots.clone()),
        ] {
            let cfg = server_config(chain.clone(), key.clone_key(), auth, &[b"http/1.1"]).unwrap();
            assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        }
        assert!(client_config(ServerVerification::Roots(roots), None, &[]).is_ok());
        assert!(
            client_config(
                ServerVerification::Insecure,
                Some((chain, key.clone_key())),
                &[]
            )
            .is_ok()
        );
        // A key that does not match the certificate is rejected.
        let other = crate::pki::signing_key().unwrap();
        let other = private_key_from_pem(other.key_pem.as_bytes()).unwrap();
        let chain = certs_from_pem(ca.cert_pem().as_bytes()).unwrap();
        assert!(server_config(chain, other, ClientAuth::None, &[]).is_err());
    }
}
