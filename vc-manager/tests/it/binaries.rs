//! The `local` provisioner with upstream binaries. These tests need the binaries:
//! `VC_TEST_ETCD` (path of `etcd`) and `VC_TEST_KUBE_APISERVER` (path of `kube-apiserver`);
//! `VC_TEST_KUBE_CONTROLLER_MANAGER` too, else the `kube-controller-manager` beside
//! `kube-apiserver` when there is one. `.ci/run` sets them from `../shared/upstream-k8s`.
//! Without them the tests print why and skip.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crds::Provisioner;
use crds::tenancy::TenantId;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::Api;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vc_manager::pki::secrets::{SecretLayout, read_tls};
use vc_manager::pki::{PkiItem, PkiSpec, SubjectNames};
use vc_manager::provisioner::Tenant;
use vc_manager::provisioner::local::Ports;
use vc_manager::provisioner::local::binaries::{self, Binaries, PkiFiles};
use vc_manager::provisioner::local::supervisor::Supervised;

use crate::harness::*;

/// A line in the test log even when the harness captures output (CI shows which tests ran).
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn binary(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// The controller-manager to run: `VC_TEST_KUBE_CONTROLLER_MANAGER`, else the one beside
/// `kube-apiserver`.
fn controller_manager(apiserver: &Path) -> Option<PathBuf> {
    binary("VC_TEST_KUBE_CONTROLLER_MANAGER").or_else(|| {
        let p = apiserver.with_file_name(binaries::KUBE_CONTROLLER_MANAGER);
        p.is_file().then_some(p)
    })
}

/// Why the binaries tests cannot run, naming what is missing.
fn skip_reason(vars: &[&str]) -> Option<String> {
    let missing: Vec<String> = vars
        .iter()
        .filter(|v| binary(v).is_none())
        .map(|v| match std::env::var_os(v) {
            Some(p) => format!("{v}={} is not a file", PathBuf::from(p).display()),
            None => format!("{v} is not set"),
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} (run ../shared/upstream-k8s/install.sh and point them at its bin/, as .ci/run does)",
            missing.join(", ")
        )
    })
}

/// The last lines of every log file under `dir` (for failure messages).
fn log_tails(dir: &Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return format!("(no logs in {})", dir.display());
    };
    for e in entries.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        out.push_str(&format!("--- {}\n{tail}\n", e.path().display()));
    }
    out
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
            cluster_version: None,
            import_kubeconfig: None,
        },
    }
}

/// `GET /health` over mutual TLS with the API server's etcd client certificate.
async fn etcd_health(port: u16, secrets: &BTreeMap<String, Secret>) -> Result<String, String> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let der = |pem: &str| common::pki::pem_block(pem, "pem").unwrap().1;
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
    let name = "etcd_serves_and_authenticates_with_the_tenant_pki";
    if let Some(why) = skip_reason(&["VC_TEST_ETCD"]) {
        say(&format!("SKIP {name}: {why}"));
        return;
    }
    let Some(etcd) = binary("VC_TEST_ETCD") else {
        return;
    };
    say(&format!("RUN {name}: upstream etcd {}", etcd.display()));
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
    let name = "a_local_tenant_runs_on_upstream_binaries";
    if let Some(why) = skip_reason(&["VC_TEST_ETCD", "VC_TEST_KUBE_APISERVER"]) {
        say(&format!("SKIP {name}: {why}"));
        return;
    }
    let (Some(etcd), Some(apiserver)) = (binary("VC_TEST_ETCD"), binary("VC_TEST_KUBE_APISERVER"))
    else {
        return;
    };
    let cm = controller_manager(&apiserver);
    say(&format!(
        "RUN {name}: upstream {} with {}, controller-manager: {}",
        apiserver.display(),
        etcd.display(),
        cm.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "none".into())
    ));
    let bins = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(etcd, bins.path().join("etcd")).unwrap();
    std::os::unix::fs::symlink(apiserver, bins.path().join("kube-apiserver")).unwrap();
    if let Some(cm) = &cm {
        std::os::unix::fs::symlink(cm, bins.path().join("kube-controller-manager")).unwrap();
    }
    let dir = bins.path().to_path_buf();
    let env = Env::start_with(move |c| {
        c.control_plane_binaries = Some(dir);
        c.timings.provision_timeout = Duration::from_secs(120);
    })
    .await;
    env.create("upstream", spec(Provisioner::Local)).await;
    let key = env
        .wait_vc_or("upstream", "Running", is_ready, |vc| {
            let key = vc
                .status
                .and_then(|s| s.cluster_namespace)
                .unwrap_or_default();
            log_tails(&env.state.path().join(key).join("logs"))
        })
        .await
        .status
        .and_then(|s| s.cluster_namespace)
        .unwrap();
    let logs = env.state.path().join(&key).join("logs");
    let text = env.admin_kubeconfig(&key).await;
    let tenant = client_from(&text).await;
    let version = tenant.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.28.0", "{version:?}");
    // Service-account tokens are signed and verified with the key vc-manager issued: a
    // requested token authenticates (a 403 naming the service account, not a 401).
    let sa = ServiceAccount {
        metadata: kube::api::ObjectMeta {
            name: Some("probe".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(tenant.clone(), "default")
        .create(&Default::default(), &sa)
        .await
        .unwrap();
    if let Some(out) = kubectl(&text, &["create", "token", "probe", "-n", "default"]) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kubectl create token: {stderr}");
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let as_sa = token_client(&text, &token).await;
        let err = Api::<ServiceAccount>::namespaced(as_sa, "kube-system")
            .list(&Default::default())
            .await
            .unwrap_err();
        match err {
            kube::Error::Api(s) => {
                assert_eq!(s.code, 403, "{s:?}");
                assert!(
                    s.message.contains("system:serviceaccount:default:probe"),
                    "{s:?}"
                );
            }
            other => panic!("the token did not authenticate: {other}"),
        }
    }
    if cm.is_some() {
        // The controller-manager runs: it creates the `default` service account and the root
        // CA config map in every namespace (with the tenant's root CA).
        let sas: Api<ServiceAccount> = Api::namespaced(tenant.clone(), "default");
        let cms: Api<ConfigMap> = Api::namespaced(tenant.clone(), "default");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let sa = sas.get_opt("default").await.ok().flatten();
            let ca = cms.get_opt("kube-root-ca.crt").await.ok().flatten();
            if sa.is_some() && ca.is_some() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the controller-manager did not create default/default and kube-root-ca.crt\n{}",
                log_tails(&logs)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    if let Some(out) = kubectl(&text, &["get", "namespaces", "-o", "name"]) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
    }
    say(&format!(
        "PASS {name}: upstream kube-apiserver {} runs tenant {key}",
        version.git_version
    ));
    env.stop().await;
}

/// A client of the kubeconfig's cluster authenticating with `token` only.
async fn token_client(kubeconfig: &str, token: &str) -> kube::Client {
    let mut kc = kube::config::Kubeconfig::from_yaml(kubeconfig).unwrap();
    for a in &mut kc.auth_infos {
        a.auth_info = Some(kube::config::AuthInfo {
            token: Some(token.to_string().into()),
            ..Default::default()
        });
    }
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    kube::Client::try_from(config).unwrap()
}
