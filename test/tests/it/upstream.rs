//! Real Kubernetes for the end-to-end suites: the upstream v1.28 binaries and scripts of
//! `../shared/upstream-k8s` (beside the repository; `VC_TEST_UPSTREAM_K8S` names another
//! place), found only when `VC_TEST_KUBE_APISERVER` and `VC_TEST_ETCD` name the unpacked
//! binaries (`.ci/run` sets all three after running its `install.sh`). Without them the tests
//! that need them print why and skip.
//!
//! [`UpstreamSuper`] is a real control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler) started with `start.sh` in a state directory of its own and stopped with
//! `stop.sh --purge` when dropped. [`UpstreamSuper::external`] applies the components' RBAC of
//! `config/` and gives each component a token of its own service account, so vc-manager, the
//! syncer and vn-agent run with exactly the rights a deployment grants them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use vcctl::local::{COMPONENT_NAMESPACE, COMPONENTS, ExternalSuper};

use crate::support::{Step, compare, run_scenario, say};

/// Kinds of `config/` that grant the components their rights (the workloads themselves, and
/// the kubelet-client secret placeholder, are not applied: the components run in the test).
const RBAC_KINDS: [&str; 7] = [
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "CustomResourceDefinition",
];

/// Where the upstream binaries and scripts are.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// The `upstream-k8s` directory (`start.sh`, `stop.sh`, `run-conformance.sh`).
    pub scripts: PathBuf,
    /// The directory with `kube-apiserver`, `kube-controller-manager` and `etcd`.
    pub bin: PathBuf,
    /// `etcd`.
    pub etcd: PathBuf,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

impl Upstream {
    /// The upstream binaries, or why they are not available.
    pub fn find() -> Result<Upstream, String> {
        let scripts = match std::env::var_os("VC_TEST_UPSTREAM_K8S") {
            Some(p) => PathBuf::from(p),
            None => repo_root().join("../shared/upstream-k8s"),
        };
        if !scripts.join("start.sh").is_file() {
            return Err(format!(
                "no upstream-k8s scripts at {} (set VC_TEST_UPSTREAM_K8S or place \
                 upstream-k8s in ../shared beside the repository)",
                scripts.display()
            ));
        }
        let var = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_file())
                .ok_or_else(|| {
                    format!(
                        "{name} does not name a binary (run {}/install.sh and set \
                         VC_TEST_KUBE_APISERVER and VC_TEST_ETCD to its bin/, as .ci/run does)",
                        scripts.display()
                    )
                })
        };
        let apiserver = var("VC_TEST_KUBE_APISERVER")?;
        let etcd = var("VC_TEST_ETCD")?;
        let bin = apiserver
            .parent()
            .map(Path::to_path_buf)
            .ok_or("VC_TEST_KUBE_APISERVER has no directory")?;
        for name in ["kube-controller-manager", "kube-scheduler"] {
            if !bin.join(name).is_file() {
                return Err(format!("{} has no {name}", bin.display()));
            }
        }
        Ok(Upstream { scripts, bin, etcd })
    }

    /// A directory with exactly the binaries a `local` tenant control plane runs.
    pub fn tenant_binaries(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, target) in [
            ("etcd", self.etcd.clone()),
            ("kube-apiserver", self.bin.join("kube-apiserver")),
            (
                "kube-controller-manager",
                self.bin.join("kube-controller-manager"),
            ),
        ] {
            std::os::unix::fs::symlink(target, dir.path().join(name)).unwrap();
        }
        dir
    }

    /// The scripts with the environment that makes them use these binaries.
    fn script(&self, name: &str, state: &Path) -> Command {
        let mut c = Command::new(self.scripts.join(name));
        // install.sh (run by start.sh) finds the binaries unpacked in UPSTREAM_K8S_DIR/bin,
        // and etcd on the PATH (where it really is: install.sh links bin/etcd to it).
        if let Some(dir) = self.bin.parent() {
            c.env("UPSTREAM_K8S_DIR", dir);
        }
        if let Some(dir) = std::fs::canonicalize(&self.etcd)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            let mut path = dir.into_os_string();
            path.push(":");
            path.push(std::env::var_os("PATH").unwrap_or_default());
            c.env("PATH", path);
        }
        c.env("UPSTREAM_K8S_STATE", state);
        c
    }
}

/// A real upstream control plane, stopped (and its state removed) when dropped.
pub struct UpstreamSuper {
    upstream: Upstream,
    state: tempfile::TempDir,
    name: String,
    /// Its admin kubeconfig (cluster-admin).
    pub kubeconfig: PathBuf,
    /// The CA that signs its kubelet client certificate.
    pub kubelet_client_ca_pem: String,
}

impl UpstreamSuper {
    /// Runs `start.sh NAME PORT` on a free port (blocking, about 10 s).
    pub fn start(upstream: &Upstream, name: &str) -> Result<UpstreamSuper, String> {
        let state = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = crate::support::free_port();
        let out = upstream
            .script("start.sh", state.path())
            .args([name, &port.to_string()])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running start.sh: {e}"))?;
        let mut me = UpstreamSuper {
            upstream: upstream.clone(),
            name: name.to_string(),
            kubeconfig: state.path().join(name).join("kubeconfig"),
            kubelet_client_ca_pem: String::new(),
            state,
        };
        if !out.status.success() {
            return Err(format!(
                "start.sh {name} {port} failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                me.log_tails()
            ));
        }
        let ca = me.state.path().join(name).join("pki/ca.crt");
        me.kubelet_client_ca_pem =
            std::fs::read_to_string(&ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
        Ok(me)
    }

    /// The last lines of each component's log (for failure messages).
    pub fn log_tails(&self) -> String {
        let dir = self.state.path().join(&self.name).join("logs");
        let mut out = String::new();
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(10)..].join("\n");
            out.push_str(&format!("--- {}\n{tail}\n", e.path().display()));
        }
        out
    }

    /// The admin kubeconfig's text.
    pub fn admin_kubeconfig(&self) -> String {
        std::fs::read_to_string(&self.kubeconfig).unwrap()
    }

    /// Applies the components' RBAC from `config/` and returns the super cluster with one
    /// service-account token per component.
    pub async fn external(&self) -> ExternalSuper {
        apply_rbac(&self.kubeconfig);
        let admin_kubeconfig = self.admin_kubeconfig();
        let kc = kube::config::Kubeconfig::from_yaml(&admin_kubeconfig).unwrap();
        let cluster = kc.clusters[0].cluster.clone().unwrap();
        let admin = kube::Client::try_from(
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .unwrap(),
        )
        .unwrap();
        let sas: Api<ServiceAccount> = Api::namespaced(admin, COMPONENT_NAMESPACE);
        let mut component_kubeconfigs = BTreeMap::new();
        for c in COMPONENTS {
            let request = TokenRequest {
                spec: TokenRequestSpec {
                    audiences: vec![],
                    expiration_seconds: Some(24 * 3600),
                    ..Default::default()
                },
                ..Default::default()
            };
            let token = sas
                .create_token_request(c.service_account, &Default::default(), &request)
                .await
                .unwrap_or_else(|e| panic!("token for {}: {e}", c.service_account))
                .status
                .unwrap()
                .token;
            let yaml = serde_json::json!({
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "super", "cluster": {
                    "server": cluster.server,
                    "certificate-authority-data": cluster.certificate_authority_data,
                }}],
                "users": [{"name": c.user(), "user": {"token": token}}],
                "contexts": [{"name": c.name, "context": {"cluster": "super", "user": c.user()}}],
                "current-context": c.name,
            });
            component_kubeconfigs.insert(c.name.to_string(), yaml.to_string());
        }
        ExternalSuper {
            admin_kubeconfig,
            component_kubeconfigs,
            kubelet_client_ca_pem: self.kubelet_client_ca_pem.clone(),
        }
    }
}

impl Drop for UpstreamSuper {
    fn drop(&mut self) {
        let _ = self
            .upstream
            .script("stop.sh", self.state.path())
            .args([self.name.as_str(), "--purge"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
    }
}

/// `kubectl apply` of the RBAC (and CRDs) that `kubectl kustomize config/` renders.
fn apply_rbac(kubeconfig: &Path) {
    let config = repo_root().join("config");
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&config)
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        config.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let items: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| <serde_json::Value as serde::Deserialize>::deserialize(d).ok())
        .filter(|o| RBAC_KINDS.contains(&o["kind"].as_str().unwrap_or_default()))
        .collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["apply", "--server-side", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl on PATH");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(list.to_string().as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "applying config/ RBAC: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh upstream control plane `name` for parity test `test`, or `None` (with the SKIP line
/// printed) when the upstream binaries are not installed.
pub async fn start_for_parity(test: &str, name: &'static str) -> Option<UpstreamSuper> {
    let upstream = match Upstream::find() {
        Ok(u) => u,
        Err(why) => {
            crate::support::say(&format!("SKIP {test} (upstream): {why}"));
            return None;
        }
    };
    crate::support::say(&format!("RUN {test}: embedded and upstream v1.28"));
    let up = tokio::task::spawn_blocking(move || UpstreamSuper::start(&upstream, name))
        .await
        .unwrap_or_else(|e| panic!("{test}: upstream: {e}"))
        .unwrap_or_else(|e| panic!("{test}: upstream: {e}"));
    Some(up)
}

/// Runs `scenario` on a fresh upstream control plane `name` and asserts its transcript equals
/// `embedded` (prints SKIP and returns when the upstream binaries are not installed).
pub async fn compare_with_upstream<F>(
    test: &str,
    name: &'static str,
    embedded: &[Step],
    scenario: F,
) where
    F: FnOnce(&str) -> Vec<Step> + Send + 'static,
{
    let Some(up) = start_for_parity(test, name).await else {
        return;
    };
    let real = run_scenario(up.admin_kubeconfig(), scenario).await;
    compare(embedded, &real);
    say(&format!("PASS {test}: {} steps equal", real.len()));
}
