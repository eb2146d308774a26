//! The local kubelet PKI: a CA that the simulated kubelets trust for clients (vn-agent and the
//! super API server present certificates it issued), and the kubelets' serving certificate
//! signed by a CA that vn-agent and the super API server verify.
//!
//! Both sides run in this process and start together, so the material is issued afresh at each
//! start; it is written under `<dir>/pki/` because vn-agent reads its certificates from files,
//! as it does in a real DaemonSet.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use common::pki::{Ca, CertKey, LeafSpec, Validity};

/// Errors issuing or writing the local kubelet PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The issuer refused the parameters.
    #[error("issuing {what}: {source}")]
    Issue {
        /// Which certificate.
        what: &'static str,
        /// Why.
        source: common::pki::PkiError,
    },
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A PEM certificate and its PEM key.
pub type Pair = CertKey;

/// Everything the kubelet path needs.
#[derive(Clone, Debug)]
pub struct KubeletPki {
    /// CA the kubelets require client certificates from.
    pub client_ca: Pair,
    /// vn-agent's client certificate towards kubelets.
    pub vn_agent_client: Pair,
    /// The super API server's client certificate towards kubelets.
    pub apiserver_client: Pair,
    /// CA of the kubelets' serving certificate.
    pub serving_ca: Pair,
    /// The kubelets' serving certificate.
    pub serving: Pair,
}

/// Files under `<dir>/pki/` that vn-agent reads.
#[derive(Clone, Debug)]
pub struct VnAgentFiles {
    /// Client certificate.
    pub client_cert: PathBuf,
    /// Client key.
    pub client_key: PathBuf,
    /// CA of the kubelets' serving certificate.
    pub kubelet_ca: PathBuf,
}

fn issue_err(what: &'static str) -> impl FnOnce(common::pki::PkiError) -> PkiError {
    move |source| PkiError::Issue { what, source }
}

// Issued afresh at every start, so the material never needs to expire.
fn new_ca(cn: &str, what: &'static str) -> Result<Ca, PkiError> {
    Ca::generate(cn, Validity::Unlimited).map_err(issue_err(what))
}

fn client(ca: &Ca, cn: &str, org: &str, what: &'static str) -> Result<Pair, PkiError> {
    ca.issue(&LeafSpec::client(cn).with_organizations([org]))
        .map_err(issue_err(what))
}

fn serving(ca: &Ca, ips: &[IpAddr]) -> Result<Pair, PkiError> {
    let mut spec = LeafSpec::server("nodesim-kubelet").with_names(["localhost"]);
    spec.ips.extend_from_slice(ips);
    ca.issue(&spec)
        .map_err(issue_err("the kubelet serving certificate"))
}

impl KubeletPki {
    /// Issues the kubelet PKI; the serving certificate is valid for `ips` and `localhost`.
    pub fn issue(ips: &[IpAddr]) -> Result<Self, PkiError> {
        let client_ca = new_ca("vcctl-kubelet-client-ca", "the kubelet client CA")?;
        let serving_ca = new_ca("vcctl-kubelet-serving-ca", "the kubelet serving CA")?;
        Ok(KubeletPki {
            vn_agent_client: client(
                &client_ca,
                "vn-agent",
                "system:masters",
                "vn-agent's kubelet client certificate",
            )?,
            apiserver_client: client(
                &client_ca,
                "kube-apiserver-kubelet-client",
                "system:masters",
                "the super API server's kubelet client certificate",
            )?,
            serving: serving(&serving_ca, ips)?,
            client_ca: client_ca.pem().clone(),
            serving_ca: serving_ca.pem().clone(),
        })
    }

    /// Writes what vn-agent reads into `pki_dir` (keys readable by the owner only).
    pub fn write_vn_agent_files(&self, pki_dir: &Path) -> Result<VnAgentFiles, PkiError> {
        std::fs::create_dir_all(pki_dir).map_err(|source| PkiError::Write {
            path: pki_dir.to_path_buf(),
            source,
        })?;
        let files = VnAgentFiles {
            client_cert: pki_dir.join("vn-agent-kubelet-client.crt"),
            client_key: pki_dir.join("vn-agent-kubelet-client.key"),
            kubelet_ca: pki_dir.join("kubelet-serving-ca.crt"),
        };
        write(&files.client_cert, &self.vn_agent_client.cert_pem, 0o644)?;
        write(&files.client_key, &self.vn_agent_client.key_pem, 0o600)?;
        write(&files.kubelet_ca, &self.serving_ca.cert_pem, 0o644)?;
        Ok(files)
    }
}

fn write(path: &Path, content: &str, mode: u32) -> Result<(), PkiError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let err = |source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    };
    // Replace rather than truncate, so a key file never exists with a wider mode.
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(content.as_bytes()).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_distinct_material_and_writes_private_keys() {
        use std::os::unix::fs::PermissionsExt as _;
        let pki = KubeletPki::issue(&[IpAddr::from([127, 0, 0, 1])]).unwrap();
        assert_ne!(pki.client_ca.cert_pem, pki.serving_ca.cert_pem);
        assert!(
            pki.serving
                .cert_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        let dir = tempfile::tempdir().unwrap();
        let files = pki.write_vn_agent_files(&dir.path().join("pki")).unwrap();
        let mode = std::fs::metadata(&files.client_key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&files.kubelet_ca).unwrap(),
            pki.serving_ca.cert_pem
        );
        // A second write replaces the files.
        pki.write_vn_agent_files(&dir.path().join("pki")).unwrap();
    }
}
