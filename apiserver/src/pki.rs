//! The server's certificates: a CA that signs the serving certificate and client certificates,
//! generated on first start and reused from the certificate directory afterwards.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Certificate failures.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen failed.
    #[error("generating certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// Reading or writing the certificate directory failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A PEM file is unusable.
    #[error("{0}")]
    Invalid(String),
}

/// A CA able to sign certificates.
pub struct Ca {
    /// The CA certificate (PEM).
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// A certificate with its key (both PEM).
#[derive(Debug, Clone)]
pub struct CertPair {
    /// Certificate chain, leaf first.
    pub cert_pem: String,
    /// Private key (PKCS#8).
    pub key_pem: String,
}

const CA_DAYS: i64 = 3650;
const LEAF_DAYS: i64 = 365;

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time_now();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

impl Ca {
    /// A new self-signed CA.
    pub fn generate(common_name: &str) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, CA_DAYS);
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A CA loaded from PEM files.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        Ok(Ca {
            cert_pem: cert_pem.to_string(),
            issuer: Issuer::from_ca_cert_pem(cert_pem, key)?,
        })
    }

    /// The CA's private key (PEM).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A serving certificate for the given DNS names and IPs.
    pub fn issue_server(
        &self,
        cn: &str,
        dns: &[String],
        ips: &[IpAddr],
    ) -> Result<CertPair, PkiError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.subject_alt_names = dns
            .iter()
            .filter_map(|d| d.clone().try_into().ok().map(SanType::DnsName))
            .chain(ips.iter().map(|ip| SanType::IpAddress(*ip)))
            .collect();
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        validity(&mut params, LEAF_DAYS);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A client certificate: CN = user, O = groups.
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> Result<CertPair, PkiError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, user);
        for g in groups {
            dn.push(DnType::OrganizationName, *g);
        }
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        validity(&mut params, LEAF_DAYS);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
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
            return Ca::from_pem(&cert, &key);
        }
        let ca = Ca::generate(cn)?;
        write(&c, &ca.cert_pem)?;
        write(&k, &ca.key_pem())?;
        return Ok(ca);
    }
    Ca::generate(cn)
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
            serving_ca.issue_server("kube-apiserver", dns, ips)
        })?;
        if !covers(&serving.cert_pem, dns, ips) {
            serving = serving_ca.issue_server("kube-apiserver", dns, ips)?;
            if let Some(d) = dir {
                write(&d.join("apiserver.crt"), &serving.cert_pem)?;
                write(&d.join("apiserver.key"), &serving.key_pem)?;
            }
        }
        let admin = load_or_create_pair(dir, "admin", || {
            client_ca.issue_client("admin", &["system:masters"])
        })?;
        let sa_key = match dir.map(|d| d.join("sa.key")) {
            Some(p) => match read(&p)? {
                Some(k) => k,
                None => {
                    let k = KeyPair::generate()?.serialize_pem();
                    write(&p, &k)?;
                    k
                }
            },
            None => KeyPair::generate()?.serialize_pem(),
        };
        Ok(ServerPki {
            serving_ca,
            client_ca,
            serving,
            admin,
            service_account_key_pem: sa_key,
        })
    }
}

/// Whether a certificate's SANs include every given name and address.
fn covers(cert_pem: &str, dns: &[String], ips: &[IpAddr]) -> bool {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()) else {
        return false;
    };
    let Ok(cert) = pem.parse_x509() else {
        return false;
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    let mut have_dns = Vec::new();
    let mut have_ips = Vec::new();
    for name in &san.value.general_names {
        match name {
            x509_parser::extensions::GeneralName::DNSName(d) => have_dns.push(d.to_string()),
            x509_parser::extensions::GeneralName::IPAddress(b) => {
                if let Ok(a) = <[u8; 4]>::try_from(*b) {
                    have_ips.push(IpAddr::from(a));
                } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                    have_ips.push(IpAddr::from(a));
                }
            }
            _ => {}
        }
    }
    let not_expired = cert.validity().time_to_expiration().is_some();
    not_expired
        && dns.iter().all(|d| have_dns.contains(d))
        && ips.iter().all(|i| have_ips.contains(i))
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
