//! The server's certificates: a CA that signs the serving certificate and client certificates,
//! generated on first start and reused from the certificate directory afterwards.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use common::pki::{Ca, LeafSpec, Validity};
use jiff::Timestamp;

/// A certificate with its key (both PEM).
pub use common::pki::CertKey as CertPair;

/// Certificate failures.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Issuing or loading a certificate failed.
    #[error(transparent)]
    Issue(#[from] common::pki::PkiError),
    /// Reading or writing the certificate directory failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

const CA_DAYS: i64 = 3650;
const LEAF_DAYS: i64 = 365;
/// Certificates start this long before they are issued, tolerating clock skew.
const BACKDATE_SECONDS: i64 = 3600;

fn validity(days: i64) -> Result<Validity, PkiError> {
    Ok(Validity::days_from(
        Timestamp::now(),
        BACKDATE_SECONDS,
        days,
    )?)
}

fn new_ca(common_name: &str) -> Result<Ca, PkiError> {
    Ok(Ca::generate(common_name, validity(CA_DAYS)?)?)
}

/// A serving certificate signed by `ca` for the given DNS names and IPs.
fn issue_server(ca: &Ca, cn: &str, dns: &[String], ips: &[IpAddr]) -> Result<CertPair, PkiError> {
    let mut spec = LeafSpec::server(cn).with_validity(validity(LEAF_DAYS)?);
    spec.dns_names = dns.to_vec();
    spec.ips = ips.to_vec();
    Ok(ca.issue(&spec)?)
}

/// A client certificate signed by `ca`: CN = user, O = groups.
pub fn issue_client(ca: &Ca, user: &str, groups: &[&str]) -> Result<CertPair, PkiError> {
    let spec = LeafSpec::client(user)
        .with_organizations(groups.iter().copied())
        .with_validity(validity(LEAF_DAYS)?);
    Ok(ca.issue(&spec)?)
}

/// The server's certificate material.
#[derive(Debug)]
pub struct ServerPki {
    /// CA that signed the serving certificate (clients trust it).
    pub serving_ca: Ca,
    /// CA whose client certificates authenticate users.
    pub client_ca: Ca,
    /// The serving certificate.
    pub serving: CertPair,
    /// The admin client certificate (CN `admin`, O `system:masters`).
    pub admin: CertPair,
    /// Key pair signing service-account tokens (PKCS#8 PEM).
    pub service_account_key_pem: String,
    /// CA of the front-proxy client certificate (upstream's `--requestheader-client-ca-file`),
    /// apart from `client_ca` so that the certificate authenticates nobody here.
    pub front_proxy_ca: Ca,
    /// The client certificate presented to aggregated API servers (CN `front-proxy-client`).
    pub front_proxy_client: CertPair,
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write(path: &Path, data: &str) -> Result<(), PkiError> {
    std::fs::write(path, data).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn load_or_create_ca(dir: Option<&Path>, stem: &str, cn: &str) -> Result<Ca, PkiError> {
    if let Some(dir) = dir {
        let (c, k) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        );
        if let (Some(cert), Some(key)) = (read(&c)?, read(&k)?) {
            return Ok(Ca::from_pem(&cert, &key)?);
        }
        let ca = new_ca(cn)?;
        write(&c, &ca.pem().cert_pem)?;
        write(&k, &ca.pem().key_pem)?;
        return Ok(ca);
    }
    new_ca(cn)
}

fn load_or_create_pair<F>(dir: Option<&Path>, stem: &str, make: F) -> Result<CertPair, PkiError>
where
    F: FnOnce() -> Result<CertPair, PkiError>,
{
    if let Some(dir) = dir {
        let (c, k) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        );
        if let (Some(cert_pem), Some(key_pem)) = (read(&c)?, read(&k)?) {
            return Ok(CertPair { cert_pem, key_pem });
        }
        let pair = make()?;
        write(&c, &pair.cert_pem)?;
        write(&k, &pair.key_pem)?;
        return Ok(pair);
    }
    make()
}

impl ServerPki {
    /// Loads the material from `dir` (creating what is missing), or generates it in memory.
    /// The serving certificate is reissued when its SANs do not cover `dns`/`ips`.
    pub fn load_or_create(
        dir: Option<&Path>,
        dns: &[String],
        ips: &[IpAddr],
    ) -> Result<Self, PkiError> {
        if let Some(d) = dir {
            std::fs::create_dir_all(d).map_err(|source| PkiError::Io {
                path: d.to_path_buf(),
                source,
            })?;
        }
        let serving_ca = load_or_create_ca(dir, "ca", "virtualcluster-apiserver-ca")?;
        let client_ca = load_or_create_ca(dir, "client-ca", "virtualcluster-client-ca")?;
        let mut serving = load_or_create_pair(dir, "apiserver", || {
            issue_server(&serving_ca, "kube-apiserver", dns, ips)
        })?;
        if !covers(&serving.cert_pem, dns, ips) {
            serving = issue_server(&serving_ca, "kube-apiserver", dns, ips)?;
            if let Some(d) = dir {
                write(&d.join("apiserver.crt"), &serving.cert_pem)?;
                write(&d.join("apiserver.key"), &serving.key_pem)?;
            }
        }
        let admin = load_or_create_pair(dir, "admin", || {
            issue_client(&client_ca, "admin", &["system:masters"])
        })?;
        let sa_key = match dir.map(|d| d.join("sa.key")) {
            Some(p) => match read(&p)? {
                Some(k) => k,
                None => {
                    let k = common::pki::signing_key()?.key_pem;
                    write(&p, &k)?;
                    k
                }
            },
            None => common::pki::signing_key()?.key_pem,
        };
        let front_proxy_ca =
            load_or_create_ca(dir, "front-proxy-ca", "virtualcluster-front-proxy-ca")?;
        let front_proxy_client = load_or_create_pair(dir, "front-proxy-client", || {
            issue_client(&front_proxy_ca, "front-proxy-client", &[])
        })?;
        Ok(ServerPki {
            serving_ca,
            client_ca,
            serving,
            admin,
            service_account_key_pem: sa_key,
            front_proxy_ca,
            front_proxy_client,
        })
    }
}

/// Whether a certificate is unexpired and its SANs include every given name and address.
fn covers(cert_pem: &str, dns: &[String], ips: &[IpAddr]) -> bool {
    let Ok(info) = common::pki::inspect::parse_cert_pem(cert_pem) else {
        return false;
    };
    info.remaining(Timestamp::now().as_second()) > 0
        && dns
            .iter()
            .all(|d| info.dns.contains(&d.to_ascii_lowercase()))
        && ips.iter().all(|i| info.ips.contains(i))
}

/// Default SANs: localhost names and loopback addresses.
pub fn default_sans() -> (Vec<String>, Vec<IpAddr>) {
    (
        vec![
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
            "kubernetes.default.svc.cluster.local".to_string(),
        ],
        vec![
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
        ],
    )
}
