//! An embedded super cluster with the CRDs, the sample ClusterVersion, and vc-manager.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use apiserver::{ServerBuilder, ServerHandle};
use crds::condition::{CONDITION_READY, find_condition};
use crds::{ClusterPhase, ClusterVersion, Provisioner, VirtualCluster, VirtualClusterSpec};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use vc_manager::pki::secrets::read_string;
use vc_manager::state::Timings;
use vc_manager::{Config, ManagerHandle};

/// The sample ClusterVersion (`v1.31`).
pub const SAMPLE_CV: &str = include_str!("../../../config/samples/clusterversion.yaml");
const CRDS: [&str; 2] = [
    include_str!("../../../config/crd/tenancy.x-k8s.io_virtualclusters.yaml"),
    include_str!("../../../config/crd/tenancy.x-k8s.io_clusterversions.yaml"),
];
/// Namespace of the test VirtualClusters.
pub const NS: &str = "default";

/// Fast timings so tests do not wait for production backoffs.
pub fn test_timings() -> Timings {
    Timings {
        provision_timeout: Duration::from_secs(60),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        poll: Duration::from_millis(200),
        resync: Duration::from_secs(3),
    }
}

/// A super cluster with vc-manager running against it.
pub struct Env {
    /// The embedded super cluster.
    pub server: ServerHandle,
    /// Admin client of the super cluster.
    pub client: Client,
    /// vc-manager.
    pub manager: Option<ManagerHandle>,
    /// The local provisioner's state directory.
    pub state: tempfile::TempDir,
}

impl Env {
    /// Super cluster + CRDs + sample ClusterVersion + vc-manager (default provisioner local).
    pub async fn start() -> Env {
        Self::start_with(|_| {}).await
    }

    /// Like [`Env::start`], with the vc-manager config adjusted by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Env {
        Self::start_super_with(|b| b, tweak).await
    }

    /// Like [`Env::start_with`], with the super cluster's builder adjusted by `build`.
    pub async fn start_super_with(
        build: impl FnOnce(ServerBuilder) -> ServerBuilder,
        tweak: impl FnOnce(&mut Config),
    ) -> Env {
        common::process::install_crypto_provider();
        let server = build(ServerBuilder::new())
            .start()
            .await
            .expect("super cluster");
        let client = server.client();
        install_crds(&client).await;
        let cv: ClusterVersion = serde_yaml::from_str(SAMPLE_CV).unwrap();
        Api::<ClusterVersion>::all(client.clone())
            .create(&PostParams::default(), &cv)
            .await
            .unwrap();
        let state = tempfile::tempdir().unwrap();
        let mut config = manager_config(state.path().to_path_buf());
        tweak(&mut config);
        let manager = vc_manager::start(config, client.clone()).await.unwrap();
        Env {
            server,
            client,
            manager: Some(manager),
            state,
        }
    }

    /// The VirtualCluster API of the test namespace.
    pub fn vcs(&self) -> Api<VirtualCluster> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Creates a VirtualCluster.
    pub async fn create(&self, name: &str, spec: VirtualClusterSpec) -> VirtualCluster {
        let vc = VirtualCluster::new(name, spec);
        self.vcs()
            .create(&PostParams::default(), &vc)
            .await
            .unwrap()
    }

    /// Waits until `check` accepts the VirtualCluster; panics with its status otherwise.
    pub async fn wait_vc(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&VirtualCluster) -> bool,
    ) -> VirtualCluster {
        let api = self.vcs();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let vc = api.get_opt(name).await.unwrap();
            if let Some(vc) = &vc
                && check(vc)
            {
                return vc.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "VirtualCluster {name} not {what} after 60s; status: {:#?}",
                    vc.and_then(|v| v.status)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Like [`Env::wait_vc`], adding `explain(vc)` (e.g. log tails) to the panic message.
    pub async fn wait_vc_or(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&VirtualCluster) -> bool,
        explain: impl Fn(VirtualCluster) -> String,
    ) -> VirtualCluster {
        let api = self.vcs();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let vc = api.get_opt(name).await.unwrap();
            if let Some(vc) = &vc
                && check(vc)
            {
                return vc.clone();
            }
            if tokio::time::Instant::now() > deadline {
                let status = vc.as_ref().and_then(|v| v.status.clone());
                let more = vc.map(explain).unwrap_or_default();
                panic!("VirtualCluster {name} not {what} after 120s; status: {status:#?}\n{more}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the VirtualCluster is Running with `Ready=True`.
    pub async fn wait_running(&self, name: &str) -> VirtualCluster {
        self.wait_vc(name, "Running", is_ready).await
    }

    /// Waits until the VirtualCluster is Failed with `reason`.
    pub async fn wait_failed(&self, name: &str, reason: &str) -> VirtualCluster {
        self.wait_vc(name, &format!("Failed ({reason})"), |vc| {
            let s = vc.status.clone().unwrap_or_default();
            s.phase == Some(ClusterPhase::Failed) && s.reason.as_deref() == Some(reason)
        })
        .await
    }

    /// A secret of the super cluster.
    pub async fn secret(&self, ns: &str, name: &str) -> Option<Secret> {
        Api::<Secret>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await
            .unwrap()
    }

    /// The tenant's admin kubeconfig.
    pub async fn admin_kubeconfig(&self, key: &str) -> String {
        let s = self
            .secret(key, "admin-kubeconfig")
            .await
            .expect("admin-kubeconfig");
        read_string(&s, "admin-kubeconfig").expect("key admin-kubeconfig")
    }

    /// Secrets of a root namespace by name.
    pub async fn secrets(&self, key: &str) -> BTreeMap<String, Secret> {
        Api::<Secret>::namespaced(self.client.clone(), key)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|s| (s.metadata.name.clone().unwrap(), s))
            .collect()
    }

    /// Stops vc-manager and the super cluster.
    pub async fn stop(mut self) {
        if let Some(m) = self.manager.take() {
            m.shutdown().await;
        }
        self.server.shutdown().await;
    }
}

/// vc-manager settings for tests: local by default, fast timings, an ops endpoint.
pub fn manager_config(state_dir: PathBuf) -> Config {
    Config {
        default_provisioner: Provisioner::Local,
        state_dir,
        timings: test_timings(),
        ops_addr: Some("127.0.0.1:0".parse().unwrap()),
        concurrency: 4,
        ..Config::default()
    }
}

/// Whether a VirtualCluster is Running and Ready.
pub fn is_ready(vc: &VirtualCluster) -> bool {
    vc.is_running()
        && vc
            .status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, CONDITION_READY))
            .is_some_and(|c| c.is_true())
}

/// The spec of a VirtualCluster of the sample ClusterVersion.
pub fn spec(provisioner: Provisioner) -> VirtualClusterSpec {
    VirtualClusterSpec {
        cluster_version_name: "v1.31".into(),
        provisioner: Some(provisioner),
        ..Default::default()
    }
}

/// Installs the CRDs and waits until the VirtualCluster API answers.
pub async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for text in CRDS {
        let crd: CustomResourceDefinition = serde_yaml::from_str(text).unwrap();
        api.create(&PostParams::default(), &crd).await.unwrap();
    }
    let vcs: Api<VirtualCluster> = Api::all(client.clone());
    for _ in 0..100 {
        if vcs.list(&ListParams::default()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the VirtualCluster CRD never became available");
}

/// A kube client from kubeconfig text.
pub async fn client_from(kubeconfig: &str) -> Client {
    vc_manager::kube_client_from_kubeconfig(kubeconfig)
        .await
        .unwrap()
}

/// Runs `kubectl` with a kubeconfig; `None` (with a printed reason) when kubectl is missing.
pub fn kubectl(kubeconfig: &str, args: &[&str]) -> Option<std::process::Output> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    match std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&path)
        .args(args)
        .output()
    {
        Ok(out) => Some(out),
        Err(e) => {
            eprintln!("SKIP kubectl check: kubectl not runnable: {e}");
            None
        }
    }
}
