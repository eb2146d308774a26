//! TLS of the kubelet endpoint: a serving certificate (given, or generated with its own CA as
//! a kubelet generates a self-signed one) and mandatory client certificates chaining to the
//! configured client CA.

use std::net::IpAddr;
use std::sync::Arc;

use common::pki::{Ca, LeafSpec, Validity};
use common::tls::{self as ctls, ClientAuth};
use rustls::ServerConfig;

/// TLS setup errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM input is unusable.
    #[error("{what}: {source}")]
    Pem {
        /// Which input.
        what: &'static str,
        /// Why.
        source: ctls::TlsError,
    },
    /// Certificate generation failed.
    #[error("generating the kubelet serving certificate: {0}")]
    Generate(#[from] common::pki::PkiError),
    /// rustls rejected the configuration.
    #[error("kubelet TLS configuration: {0}")]
    Config(ctls::TlsError),
}

/// A serving certificate with the CA clients should trust.
#[derive(Debug, Clone)]
pub struct Serving {
    /// Certificate chain (PEM).
    pub cert_pem: String,
    /// Private key (PEM).
    pub key_pem: String,
    /// The CA that signed it (PEM); equal to the certificate when it was given.
    pub ca_pem: String,
}

/// Generates a CA and a serving certificate for `localhost` and the given addresses. Both are
/// issued at every start, so they never expire.
pub fn generate_serving(addresses: &[IpAddr]) -> Result<Serving, TlsError> {
    let ca = Ca::generate("nodesim-kubelet-ca", Validity::Unlimited)?;
    let mut spec = LeafSpec::server("nodesim-kubelet").with_names(["localhost"]);
    spec.ips.extend_from_slice(addresses);
    let leaf = ca.issue(&spec)?;
    Ok(Serving {
        cert_pem: leaf.cert_pem,
        key_pem: leaf.key_pem,
        ca_pem: ca.cert_pem().to_string(),
    })
}

/// The rustls server configuration: HTTP/1.1 only (upgrades), client certificates required.
pub fn server_config(
    serving: &Serving,
    client_ca_pem: &str,
) -> Result<Arc<ServerConfig>, TlsError> {
    let pem = |what| move |source| TlsError::Pem { what, source };
    let client_cas = ctls::certs_from_pem(client_ca_pem.as_bytes()).map_err(pem("client CA"))?;
    let roots = ctls::root_store(&client_cas).map_err(pem("client CA"))?;
    let chain =
        ctls::certs_from_pem(serving.cert_pem.as_bytes()).map_err(pem("serving certificate"))?;
    let key = ctls::private_key_from_pem(serving.key_pem.as_bytes()).map_err(pem("serving key"))?;
    let cfg = ctls::server_config(chain, key, ClientAuth::Required(roots), &[b"http/1.1"])
        .map_err(TlsError::Config)?;
    Ok(Arc::new(cfg))
}
