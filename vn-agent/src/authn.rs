//! Tenant authentication: the certificate's CN names the tenant (its cluster key); the chain
//! must verify against **that** tenant's root CA (secret `root-ca`, key `tls.crt`, in the root
//! namespace), which is looked up in the super cluster and cached.
//!
//! rustls verifies client certificates synchronously, but the tenant CA needs an API lookup, so
//! the handshake only demands a certificate (and proof of its key, through the handshake
//! signature) while sending an empty list of acceptable CAs; the chain is verified right after
//! the handshake, before any request on the connection is served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::time::Instant;

use common::tls::HandshakeSignatures;
use crds::tenancy::{ANNOTATION_VC_ROOT_NS, SECRET_ROOT_CA, is_dns1123_label};

use crate::refusal::Refusal;
use crate::super_cluster::SuperCluster;

/// An authenticated tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant's cluster key (its root namespace in the super cluster).
    pub cluster_key: String,
}

/// The handshake half of client authentication: a certificate is required, any issuer is
/// accepted for now (the chain is verified against the tenant's CA after the handshake), and the
/// CertificateRequest lists no acceptable CAs so clients send their certificate whatever it is.
#[derive(Debug, Default)]
pub struct RequireClientCert {
    signatures: HandshakeSignatures,
}

impl RequireClientCert {
    /// A verifier using the process's (`ring`) signature algorithms.
    pub fn new() -> Self {
        RequireClientCert::default()
    }
}

impl ClientCertVerifier for RequireClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Reject what can never name a tenant already in the handshake.
        match common::tls::cert_subject(end_entity) {
            Ok(s) if s.common_name.is_some() => Ok(ClientCertVerified::assertion()),
            _ => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadEncoding,
            )),
        }
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

/// How long looked-up CAs are trusted before they are read again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheTimings {
    /// A found CA is read again after this long.
    pub ttl: Duration,
    /// An unknown tenant is looked up again after this long.
    pub negative_ttl: Duration,
    /// A failed verification re-reads a CA older than this once (the CA may have rotated).
    pub min_refresh: Duration,
}

impl Default for CacheTimings {
    fn default() -> Self {
        CacheTimings {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            min_refresh: Duration::from_secs(5),
        }
    }
}

#[derive(Clone)]
enum Lookup {
    Found(Arc<dyn ClientCertVerifier>),
    Missing(Refusal),
}

#[derive(Clone)]
struct Entry {
    lookup: Lookup,
    fetched: Instant,
}

/// Upper bound on cached tenants; expired entries are purged beyond it.
const MAX_ENTRIES: usize = 4096;

/// Tenant CAs by cluster key, looked up in the super cluster and cached.
pub struct CaCache {
    source: Arc<dyn SuperCluster>,
    timings: CacheTimings,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for CaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaCache")
            .field("timings", &self.timings)
            .finish()
    }
}

impl CaCache {
    /// A cache reading from `source`.
    pub fn new(source: Arc<dyn SuperCluster>, timings: CacheTimings) -> Self {
        CaCache {
            source,
            timings,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Authenticates a peer certificate chain (leaf first) as a tenant.
    pub async fn authenticate(&self, chain: &[CertificateDer<'static>]) -> Result<Tenant, Refusal> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "no_client_cert",
                "a client certificate is required",
            ));
        };
        let subject = common::tls::cert_subject(leaf).map_err(|e| {
            Refusal::forbidden(
                "invalid_cert",
                format!("unreadable client certificate: {e}"),
            )
        })?;
        let cluster_key = subject
            .common_name
            .filter(|cn| is_dns1123_label(cn))
            .ok_or_else(|| {
                Refusal::forbidden(
                    "invalid_cert",
                    "the client certificate's CN must be the cluster key of a virtual cluster",
                )
            })?;
        let (lookup, age) = self.lookup(&cluster_key, false).await?;
        match verify(&lookup, leaf, intermediates) {
            Ok(()) => Ok(Tenant { cluster_key }),
            Err(_) if age >= self.timings.min_refresh => {
                // The tenant's CA may have been rotated since it was cached: read it once more.
                let (lookup, _) = self.lookup(&cluster_key, true).await?;
                match verify(&lookup, leaf, intermediates) {
                    Ok(()) => Ok(Tenant { cluster_key }),
                    Err(e) => Err(refusal_for(&cluster_key, e)),
                }
            }
            Err(e) => Err(refusal_for(&cluster_key, e)),
        }
    }

    async fn lookup(&self, cluster_key: &str, force: bool) -> Result<(Lookup, Duration), Refusal> {
        let now = Instant::now();
        if !force && let Some(entry) = self.cached(cluster_key, now) {
            return Ok((entry.lookup, now - entry.fetched));
        }
        let lookup = self.fetch(cluster_key).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let t = self.timings;
            entries.retain(|_, e| now - e.fetched < ttl_of(&e.lookup, t));
        }
        entries.insert(
            cluster_key.to_string(),
            Entry {
                lookup: lookup.clone(),
                fetched: now,
            },
        );
        Ok((lookup, Duration::ZERO))
    }

    fn cached(&self, cluster_key: &str, now: Instant) -> Option<Entry> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(cluster_key)
            .filter(|e| now - e.fetched < ttl_of(&e.lookup, self.timings))
            .cloned()
    }

    /// Reads the tenant's root namespace and root CA. API failures are not cached.
    async fn fetch(&self, cluster_key: &str) -> Result<Lookup, Refusal> {
        let unavailable = |e: crate::super_cluster::SuperError| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "lookup_failed",
                format!("cannot look up the virtual cluster's CA: {e}"),
            )
        };
        let unknown = || {
            Lookup::Missing(Refusal::forbidden(
                "unknown_tenant",
                format!(
                    "no virtual cluster has the cluster key {cluster_key:?} (the certificate's CN)"
                ),
            ))
        };
        let ns = self
            .source
            .namespace(cluster_key)
            .await
            .map_err(unavailable)?;
        let is_root = ns
            .as_ref()
            .and_then(|n| n.metadata.annotations.as_ref())
            .and_then(|a| a.get(ANNOTATION_VC_ROOT_NS))
            .is_some_and(|v| v == "true");
        if !is_root {
            return Ok(unknown());
        }
        let Some(secret) = self
            .source
            .secret(cluster_key, SECRET_ROOT_CA)
            .await
            .map_err(unavailable)?
        else {
            return Ok(unknown());
        };
        let pem = secret
            .data
            .as_ref()
            .and_then(|d| d.get("tls.crt"))
            .map(|b| b.0.clone())
            .unwrap_or_default();
        Ok(match verifier_for(&pem) {
            Ok(v) => Lookup::Found(v),
            Err(msg) => Lookup::Missing(Refusal::forbidden(
                "tenant_ca_invalid",
                format!("the root CA of virtual cluster {cluster_key:?} is unusable: {msg}"),
            )),
        })
    }
}

fn ttl_of(lookup: &Lookup, t: CacheTimings) -> Duration {
    match lookup {
        Lookup::Found(_) => t.ttl,
        Lookup::Missing(_) => t.negative_ttl,
    }
}

fn verifier_for(pem: &[u8]) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let cas = common::tls::certs_from_pem(pem).map_err(|e| e.to_string())?;
    let roots = common::tls::root_store(&cas).map_err(|e| e.to_string())?;
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), common::tls::provider())
        .build()
        .map_err(|e| e.to_string())
}

fn verify(
    lookup: &Lookup,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Result<(), VerifyFailure> {
    match lookup {
        Lookup::Missing(r) => Err(VerifyFailure::Refused(r.clone())),
        Lookup::Found(v) => v
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
            .map_err(VerifyFailure::Tls),
    }
}

enum VerifyFailure {
    /// The tenant has no usable CA.
    Refused(Refusal),
    /// The chain does not verify against the tenant's CA.
    Tls(rustls::Error),
}

fn refusal_for(cluster_key: &str, failure: VerifyFailure) -> Refusal {
    match failure {
        VerifyFailure::Refused(r) => r,
        VerifyFailure::Tls(e) => Refusal::forbidden(
            "untrusted_cert",
            format!(
                "the client certificate does not verify against the root CA of virtual cluster \
                 {cluster_key:?}: {e}"
            ),
        ),
    }
}
