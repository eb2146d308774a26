//! The `local` provisioner with upstream binaries. These tests need the binaries:
//! `VC_TEST_ETCD` (path of `etcd`) and `VC_TEST_KUBE_APISERVER` (path of `kube-apiserver`;
//! `VC_TEST_KUBE_CONTROLLER_MANAGER` optionally). Without them they say so and skip.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crds::Provisioner;
use crds::tenancy::TenantId;
use k8s_openapi::api::core::v1::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vc_manager::pki::secrets::{SecretLayout, read_tls};
use vc_manager::pki::{PkiItem, PkiSpec, SubjectNames};
use vc_manager::provisioner::Tenant;
use vc_manager::provisioner::local::Ports;
use vc_manager::provisioner::local::binaries::{self, Binaries, PkiFiles};
use vc_manager::provisioner::local::supervisor::Supervised;

use crate::harness::*;

fn binary(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tenant PKI issued by vc-manager's own code, as secrets by name.
fn tenant_pki(key: &str) -> BTreeMap<String, Secret> {
    let mut local = SubjectNames::default();
    for n in ["localhost", "127.0.0.1"] {
        local.add(n);
    }
    let spec = PkiSpec {
        cluster_key: key.into(),
        cluster_name: "bin".into(),
        expire_days: 1,
        apiserver_names: local.clone(),
        etcd_names: local,
        items: PkiItem::ALL.into_iter().collect(),
        admin_server: "https://127.0.0.1:1".into(),
        controller_manager_server: "https://127.0.0.1:1".into(),
    };
    let stored = BTreeMap::new();
    let plan = vc_manager::pki::plan(&spec, &stored, jiff::Timestamp::now().as_second());
    let layout = SecretLayout {
        namespace: key.into(),
    };
    vc_manager::pki::plan::execute(&spec, &plan, &stored, &layout, jiff::Timestamp::now())
        .unwrap()
        .into_iter()
        .map(|s| (s.metadata.name.clone().unwrap(), s))
        .collect()
}

fn tenant(key: &str) -> Tenant {
    let mut vc = crds::VirtualCluster::new("bin", spec(Provisioner::Local));
    vc.metadata.namespace = Some(NS.into());
    vc.metadata.uid = Some("uid".into());
    Tenant {
        vc: Arc::new(vc),
        id: TenantId {
            cluster_key: key.into(),
            vc_name: "bin".into(),
            vc_namespace: NS.into(),
            vc_uid: "uid".into(),
        },
        spec: vc_manager::validate::ValidSpec {
            provisioner: Provisioner::Local,
            service_cidr: "10.32.0.0/16".parse().unwrap(),
            cluster_domain: "cluster.local".into(),
            pki_expire_days: 1,
            cluster_version: serde_yaml::from_str(SAMPLE_CV).unwrap(),
            import_kubeconfig: None,
        },
    }
}

/// `GET /health` over mutual TLS with the API server's etcd client certificate.
async fn etcd_health(port: u16, secrets: &BTreeMap<String, Secret>) -> Result<String, String> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let der = |pem: &str| vc_manager::pki::issue::pem_block(pem, "pem").unwrap().1;
    let (ca, _) = read_tls(&secrets["root-ca"]).unwrap();
    let (cert, key) = read_tls(&secrets["apiserver-ca"]).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(der(&ca))).unwrap();
    let key = PrivateKeyDer::try_from(der(&key)).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![CertificateDer::from(der(&cert))], key)
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: etcd\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    let _ = tls.read_to_string(&mut out).await;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_serves_and_authenticates_with_the_tenant_pki() {
    let Some(etcd) = binary("VC_TEST_ETCD") else {
        eprintln!(
            "SKIP etcd_serves_and_authenticates_with_the_tenant_pki: VC_TEST_ETCD is not set"
        );
        return;
    };
    common::process::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let key = "default-abc123-bin";
    let secrets = tenant_pki(key);
    PkiFiles::new(dir.path().join("pki"))
        .write(&secrets)
        .unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let ports = Ports {
        apiserver: free_port(),
        etcd_client: free_port(),
        etcd_peer: free_port(),
        controller_manager: free_port(),
    };
    let bins = Binaries {
        etcd,
        apiserver: PathBuf::from("unused"),
        controller_manager: None,
    };
    let spec = binaries::processes(
        &bins,
        &tenant(key),
        &ports,
        [127, 0, 0, 1].into(),
        dir.path(),
    )
    .into_iter()
    .next()
    .unwrap();
    let process = Supervised::start(spec);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let body = loop {
        match etcd_health(ports.etcd_client, &secrets).await {
            Ok(body) if body.contains("\"health\":\"true\"") => break body,
            other => {
                if tokio::time::Instant::now() > deadline {
                    let log = std::fs::read_to_string(dir.path().join("logs/etcd.log"))
                        .unwrap_or_default();
                    panic!("etcd not healthy over mTLS: {other:?}\n{log}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    process.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_tenant_runs_on_upstream_binaries() {
    let (Some(etcd), Some(apiserver)) = (binary("VC_TEST_ETCD"), binary("VC_TEST_KUBE_APISERVER"))
    else {
        eprintln!(
            "SKIP a_local_tenant_runs_on_upstream_binaries: VC_TEST_ETCD and \
             VC_TEST_KUBE_APISERVER must name etcd and kube-apiserver binaries"
        );
        return;
    };
    let bins = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(etcd, bins.path().join("etcd")).unwrap();
    std::os::unix::fs::symlink(apiserver, bins.path().join("kube-apiserver")).unwrap();
    if let Some(cm) = binary("VC_TEST_KUBE_CONTROLLER_MANAGER") {
        std::os::unix::fs::symlink(cm, bins.path().join("kube-controller-manager")).unwrap();
    }
    let dir = bins.path().to_path_buf();
    let env = Env::start_with(move |c| {
        c.control_plane_binaries = Some(dir);
        c.timings.provision_timeout = Duration::from_secs(120);
    })
    .await;
    env.create("upstream", spec(Provisioner::Local)).await;
    let vc = env.wait_running("upstream").await;
    let key = vc.status.unwrap().cluster_namespace.unwrap();
    let text = env.admin_kubeconfig(&key).await;
    let tenant = client_from(&text).await;
    let version = tenant.apiserver_version().await.unwrap();
    eprintln!(
        "upstream kube-apiserver {} runs tenant {key}",
        version.git_version
    );
    if let Some(out) = kubectl(&text, &["get", "namespaces", "-o", "name"]) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
    }
    env.stop().await;
}
