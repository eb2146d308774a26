//! Upstream control-plane binaries as local child processes (the envtest idea): etcd,
//! kube-apiserver and, when present, kube-controller-manager, all with the tenant's PKI.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;

use super::ports::Ports;
use super::supervisor::ProcessSpec;
use crate::pki::PkiItem;
use crate::pki::secrets::{read_string, read_tls};
use crate::provisioner::tenant::Tenant;

/// Name of the etcd binary.
pub const ETCD: &str = "etcd";
/// Name of the API server binary.
pub const KUBE_APISERVER: &str = "kube-apiserver";
/// Name of the controller-manager binary (optional).
pub const KUBE_CONTROLLER_MANAGER: &str = "kube-controller-manager";

/// The binaries found in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binaries {
    /// `etcd`.
    pub etcd: PathBuf,
    /// `kube-apiserver`.
    pub apiserver: PathBuf,
    /// `kube-controller-manager`, when the directory has it.
    pub controller_manager: Option<PathBuf>,
}

impl Binaries {
    /// Finds the binaries in `dir`; `Err` names what is missing.
    pub fn find(dir: &Path) -> Result<Self, String> {
        let pick = |name: &str| {
            let p = dir.join(name);
            p.is_file().then_some(p)
        };
        let missing = |name: &str| {
            format!(
                "{} has no {name} binary (expected {name} and {KUBE_APISERVER}, optionally \
                 {KUBE_CONTROLLER_MANAGER})",
                dir.display()
            )
        };
        Ok(Binaries {
            etcd: pick(ETCD).ok_or_else(|| missing(ETCD))?,
            apiserver: pick(KUBE_APISERVER).ok_or_else(|| missing(KUBE_APISERVER))?,
            controller_manager: pick(KUBE_CONTROLLER_MANAGER),
        })
    }
}

/// Paths of the PKI files a local control plane reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiFiles {
    dir: PathBuf,
}

impl PkiFiles {
    /// The files under `dir`.
    pub fn new(dir: PathBuf) -> Self {
        PkiFiles { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Writes every PKI secret as files (keys readable by the owner only).
    pub fn write(&self, secrets: &BTreeMap<String, Secret>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tls = [
            (PkiItem::RootCa, "root-ca"),
            (PkiItem::ApiServer, "apiserver"),
            (PkiItem::Etcd, "etcd"),
            (PkiItem::FrontProxy, "front-proxy"),
            (PkiItem::KubeletClient, "kubelet-client"),
            (PkiItem::ServiceAccount, "service-account"),
        ];
        for (item, stem) in tls {
            let Some((cert, key)) = secrets.get(item.secret_name()).and_then(read_tls) else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("secret {} is missing or incomplete", item.secret_name()),
                ));
            };
            // The service-account secret holds a public key, not a certificate, in `tls.crt`:
            // kube-apiserver verifies tokens with it (`--service-account-key-file` reads public
            // keys, or SEC1/PKCS#1 private keys, never PKCS#8 ones) and signs with `tls.key`.
            let public = if item == PkiItem::ServiceAccount {
                "pub"
            } else {
                "crt"
            };
            write_file(&self.dir.join(format!("{stem}.{public}")), &cert, 0o644)?;
            write_file(&self.dir.join(format!("{stem}.key")), &key, 0o600)?;
        }
        let item = PkiItem::ControllerManagerKubeconfig;
        if let Some(text) = secrets
            .get(item.secret_name())
            .and_then(|s| read_string(s, item.secret_name()))
        {
            write_file(
                &self.dir.join("controller-manager.kubeconfig"),
                &text,
                0o600,
            )?;
        }
        Ok(())
    }
}

/// Writes `content` to `path` with permission bits `mode`.
pub fn write_file(path: &Path, content: &str, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, content)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// The processes of a tenant's local control plane, with upstream flags.
pub fn processes(
    bins: &Binaries,
    t: &Tenant,
    ports: &Ports,
    bind: IpAddr,
    root: &Path,
) -> Vec<ProcessSpec> {
    let pki = PkiFiles::new(root.join("pki"));
    let logs = root.join("logs");
    let host = match bind {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let client_url = format!("https://{host}:{}", ports.etcd_client);
    let peer_url = format!("https://{host}:{}", ports.etcd_peer);
    let etcd = vec![
        "--name=default".to_string(),
        format!("--data-dir={}", root.join("etcd").display()),
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=default={peer_url}"),
        "--initial-cluster-state=new".to_string(),
        format!("--cert-file={}", pki.path("etcd.crt")),
        format!("--key-file={}", pki.path("etcd.key")),
        format!("--trusted-ca-file={}", pki.path("root-ca.crt")),
        "--client-cert-auth=true".to_string(),
        format!("--peer-cert-file={}", pki.path("etcd.crt")),
        format!("--peer-key-file={}", pki.path("etcd.key")),
        format!("--peer-trusted-ca-file={}", pki.path("root-ca.crt")),
        "--peer-client-cert-auth=true".to_string(),
    ];
    let domain = &t.spec.cluster_domain;
    let mut apiserver = vec![
        format!("--bind-address={bind}"),
        format!("--advertise-address={bind}"),
        format!("--secure-port={}", ports.apiserver),
        format!("--etcd-servers={client_url}"),
        format!("--etcd-cafile={}", pki.path("root-ca.crt")),
        format!("--etcd-certfile={}", pki.path("apiserver.crt")),
        format!("--etcd-keyfile={}", pki.path("apiserver.key")),
        format!("--tls-cert-file={}", pki.path("apiserver.crt")),
        format!("--tls-private-key-file={}", pki.path("apiserver.key")),
        format!("--client-ca-file={}", pki.path("root-ca.crt")),
        format!(
            "--kubelet-client-certificate={}",
            pki.path("kubelet-client.crt")
        ),
        format!("--kubelet-client-key={}", pki.path("kubelet-client.key")),
        // Virtual nodes carry their super node's addresses; its InternalIP is where vn-agent
        // answers (as in the sample ClusterVersion).
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".to_string(),
        // Virtual nodes are registered by the syncer with the status of a super node that the
        // super cluster's node lifecycle controller looks after; the tenant runs none (see
        // `--controllers` below) that would lift the not-ready taint this plugin puts on every
        // new node, so they would stay unschedulable in the tenant's eyes forever.
        "--disable-admission-plugins=TaintNodesByCondition".to_string(),
        format!("--service-account-issuer=https://kubernetes.default.svc.{domain}"),
        format!(
            "--service-account-key-file={}",
            pki.path("service-account.pub")
        ),
        format!(
            "--service-account-signing-key-file={}",
            pki.path("service-account.key")
        ),
        format!("--service-cluster-ip-range={}", t.spec.service_cidr),
        "--authorization-mode=RBAC".to_string(),
        "--allow-privileged=true".to_string(),
        format!("--requestheader-client-ca-file={}", pki.path("root-ca.crt")),
        "--requestheader-allowed-names=front-proxy-client".to_string(),
        "--requestheader-username-headers=X-Remote-User".to_string(),
        "--requestheader-group-headers=X-Remote-Group".to_string(),
        "--requestheader-extra-headers-prefix=X-Remote-Extra-".to_string(),
        format!("--proxy-client-cert-file={}", pki.path("front-proxy.crt")),
        format!("--proxy-client-key-file={}", pki.path("front-proxy.key")),
        format!("--cert-dir={}", root.join("apiserver-certs").display()),
    ];
    if bind.is_loopback() {
        // The API server would publish its loopback address as `default/kubernetes` endpoints,
        // which it refuses to write (every 10 s, "may not be in the loopback range"): it
        // keeps the service and leaves the endpoints alone.
        apiserver.push("--endpoint-reconciler-type=none".to_string());
    }
    let spec = |name: &str, program: &Path, args: Vec<String>| ProcessSpec {
        name: name.to_string(),
        program: program.to_path_buf(),
        args,
        log: logs.join(format!("{name}.log")),
    };
    let mut out = vec![
        spec(ETCD, &bins.etcd, etcd),
        spec(KUBE_APISERVER, &bins.apiserver, apiserver),
    ];
    if let Some(cm) = &bins.controller_manager {
        let kubeconfig = pki.path("controller-manager.kubeconfig");
        out.push(spec(
            KUBE_CONTROLLER_MANAGER,
            cm,
            vec![
                format!("--kubeconfig={kubeconfig}"),
                format!("--authentication-kubeconfig={kubeconfig}"),
                format!("--authorization-kubeconfig={kubeconfig}"),
                format!("--bind-address={bind}"),
                format!("--secure-port={}", ports.controller_manager),
                "--leader-elect=false".to_string(),
                "--controllers=*,-nodelifecycle".to_string(),
                format!("--cluster-signing-cert-file={}", pki.path("root-ca.crt")),
                format!("--cluster-signing-key-file={}", pki.path("root-ca.key")),
                format!("--root-ca-file={}", pki.path("root-ca.crt")),
                format!(
                    "--service-account-private-key-file={}",
                    pki.path("service-account.key")
                ),
                "--use-service-account-credentials=true".to_string(),
                format!("--service-cluster-ip-range={}", t.spec.service_cidr),
                format!(
                    "--cert-dir={}",
                    root.join("controller-manager-certs").display()
                ),
            ],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tenant() -> Tenant {
        let vc = crds::VirtualCluster::new("t", crds::VirtualClusterSpec::default());
        Tenant {
            vc: Arc::new(vc),
            id: crds::tenancy::TenantId {
                cluster_key: "default-abc123-t".into(),
                vc_name: "t".into(),
                vc_namespace: "default".into(),
                vc_uid: "u".into(),
            },
            spec: crate::validate::ValidSpec {
                provisioner: crds::Provisioner::Local,
                service_cidr: "10.32.0.0/16".parse().unwrap(),
                cluster_domain: "cluster.local".into(),
                pki_expire_days: 1,
                cluster_version: None,
                import_kubeconfig: None,
            },
        }
    }

    #[test]
    fn upstream_flags_read_what_upstream_accepts() {
        let bins = Binaries {
            etcd: "etcd".into(),
            apiserver: "kube-apiserver".into(),
            controller_manager: Some("kube-controller-manager".into()),
        };
        let ports = Ports {
            apiserver: 1,
            etcd_client: 2,
            etcd_peer: 3,
            controller_manager: 4,
        };
        let root = Path::new("/state/t");
        let specs = processes(&bins, &tenant(), &ports, [127, 0, 0, 1].into(), root);
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER]);
        let api = &specs[1].args;
        let has = |args: &[String], flag: &str| args.iter().any(|a| a == flag);
        // Tokens are verified with the public key (PKCS#8 private keys are refused there) and
        // signed with the private key.
        assert!(has(
            api,
            "--service-account-key-file=/state/t/pki/service-account.pub"
        ));
        assert!(has(
            api,
            "--service-account-signing-key-file=/state/t/pki/service-account.key"
        ));
        assert!(has(
            api,
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname"
        ));
        assert!(has(api, "--endpoint-reconciler-type=none"));
        assert!(has(
            api,
            "--disable-admission-plugins=TaintNodesByCondition"
        ));
        assert!(has(
            &specs[2].args,
            "--service-account-private-key-file=/state/t/pki/service-account.key"
        ));
        // A routable address is published as the `kubernetes` endpoints.
        let specs = processes(&bins, &tenant(), &ports, [10, 1, 2, 3].into(), root);
        assert!(!has(&specs[1].args, "--endpoint-reconciler-type=none"));
    }

    #[test]
    fn pki_files_hold_the_service_account_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let sa = crate::pki::issue::service_account_key().unwrap();
        let mut secrets = BTreeMap::new();
        for item in [
            PkiItem::RootCa,
            PkiItem::ApiServer,
            PkiItem::Etcd,
            PkiItem::FrontProxy,
            PkiItem::KubeletClient,
            PkiItem::ServiceAccount,
        ] {
            let s = Secret {
                data: Some(BTreeMap::from([
                    (
                        "tls.crt".to_string(),
                        k8s_openapi::ByteString(sa.cert_pem.clone().into_bytes()),
                    ),
                    (
                        "tls.key".to_string(),
                        k8s_openapi::ByteString(sa.key_pem.clone().into_bytes()),
                    ),
                ])),
                ..Secret::default()
            };
            secrets.insert(item.secret_name().to_string(), s);
        }
        PkiFiles::new(dir.path().to_path_buf())
            .write(&secrets)
            .unwrap();
        let public = std::fs::read_to_string(dir.path().join("service-account.pub")).unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
        assert!(!dir.path().join("service-account.crt").exists());
        assert!(dir.path().join("root-ca.crt").exists());
    }
}
