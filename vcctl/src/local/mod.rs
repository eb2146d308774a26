//! The whole system in one process: an embedded super cluster (SQLite state under the state
//! directory), simulated nodes in two node classes, vn-agent, the syncer, vc-manager with the
//! `local` provisioner, and VirtualClusters that are Running and run pods. This is what
//! `vcctl up` runs; tests embed it the same way.
//!
//! ```no_run
//! # async fn demo() -> Result<(), vcctl::local::LocalError> {
//! use vcctl::local::{LocalCluster, LocalOptions};
//! let handle = LocalCluster::start(LocalOptions::new(".vc")).await?;
//! println!("export KUBECONFIG={}", handle.tenant_kubeconfig("demo").display());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Requests to kubelets go tenant API server (its `kubelet-client` certificate, CN = cluster
//! key) → vn-agent (on the port the syncer advertises on virtual nodes; checks that
//! certificate against the tenant's `root-ca`) → the simulated kubelet of the pod's node
//! (vn-agent's client certificate, from a local CA that the kubelets trust).

pub mod pki;
pub mod ports;
pub mod record;
pub mod state;
pub mod steps;
pub mod tenants;

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apiserver::{ServerBuilder, ServerHandle};
use crds::{ClusterVersion, Provisioner, VirtualCluster};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt, ResourceExt};
use nodesim::{NodesimConfig, NodesimHandle, PoolConfig};
use syncer::{SyncerConfig, SyncerHandle};
use vc_manager::{LeaderElection, ManagerHandle};
use vn_agent::{AgentHandle, KubeSuper};

pub use record::{Attributes, Recorded, RequestLog};
pub use state::{Listener, LocalState, TenantRecord};
pub use steps::{LocalError, NoProgress, Progress, Step};

/// Namespace of the components' identities (and of their Leases), as in `config/`.
pub const COMPONENT_NAMESPACE: &str = "vc-manager";
/// The ClusterVersion installed by default (the sample of `config/samples/`).
pub const DEFAULT_CLUSTER_VERSION: &str =
    include_str!("../../../config/samples/clusterversion.yaml");
/// Field manager of what `vcctl up` applies.
const FIELD_MANAGER: &str = "vcctl";

/// A component and the service account it runs as (in [`COMPONENT_NAMESPACE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Component {
    /// Component name (also the request-log key).
    pub name: &'static str,
    /// Its service account, as in its Deployment/DaemonSet under `config/`.
    pub service_account: &'static str,
}

/// The components that talk to the super cluster with an identity of their own.
pub const COMPONENTS: [Component; 3] = [
    Component {
        name: "vc-manager",
        service_account: "vc-manager",
    },
    Component {
        name: "syncer",
        service_account: "vc-syncer",
    },
    Component {
        name: "vn-agent",
        service_account: "vn-agent",
    },
];

impl Component {
    /// The user name the component authenticates as.
    pub fn user(&self) -> String {
        format!(
            "system:serviceaccount:{COMPONENT_NAMESPACE}:{}",
            self.service_account
        )
    }
}

/// Node class ids (Unikorn's `kubernetes.region.unikorn-cloud.org/node-class`) of the default
/// pools; fixed so that a restart finds the same classes.
pub const DEFAULT_NODE_CLASSES: [(&str, &str, &str); 2] = [
    (
        "general",
        "5d0e2a1c-7f4b-4c8e-9a61-3f2b8d7e1a01",
        "g.medium",
    ),
    ("highmem", "9b3c6e5f-1a2d-4e7f-8c90-6d5a4b3c2e02", "m.large"),
];

/// The default node pools: `per_class` nodes in each of two node classes.
pub fn default_pools(per_class: usize) -> Vec<PoolConfig> {
    DEFAULT_NODE_CLASSES
        .iter()
        .map(|(name, class, flavor)| {
            let (cpu, memory) = if *name == "highmem" {
                ("8", "64Gi")
            } else {
                ("4", "16Gi")
            };
            PoolConfig {
                name: (*name).to_string(),
                count: per_class,
                cpu: cpu.into(),
                memory: memory.into(),
                node_class: Some((*class).to_string()),
                flavor: Some((*flavor).to_string()),
                ..PoolConfig::default()
            }
        })
        .collect()
}

/// What to run.
#[derive(Clone)]
pub struct LocalOptions {
    /// State directory (SQLite data, PKI, kubeconfigs, `state.json`).
    pub dir: PathBuf,
    /// Address every listener binds.
    pub bind: IpAddr,
    /// Port of the super cluster's API (0: any free port).
    pub port: u16,
    /// VirtualClusters to create (or resume).
    pub tenants: Vec<String>,
    /// Namespace of the VirtualClusters.
    pub vc_namespace: String,
    /// Simulated node pools.
    pub pools: Vec<PoolConfig>,
    /// Upstream `kube-apiserver`/`etcd` binaries for tenants instead of the embedded server.
    pub control_plane_binaries: Option<PathBuf>,
    /// Elect leaders on Leases, as deployed replicas do (a restart after a crash then waits
    /// for the old Lease to expire).
    pub leader_election: bool,
    /// Record every distinct request each component makes to the super cluster.
    pub request_log: Option<RequestLog>,
    /// How long each tenant may take to be Running and to run a pod.
    pub tenant_timeout: Duration,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for LocalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalOptions")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("tenants", &self.tenants)
            .finish_non_exhaustive()
    }
}

impl LocalOptions {
    /// Defaults: loopback, port 6443, tenant `demo` in `default`, two node classes of two
    /// nodes each, the embedded tenant API server.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalOptions {
            dir: dir.into(),
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 6443,
            tenants: vec!["demo".into()],
            vc_namespace: "default".into(),
            pools: default_pools(2),
            control_plane_binaries: None,
            leader_election: false,
            request_log: None,
            tenant_timeout: Duration::from_secs(120),
            progress: Arc::new(NoProgress),
        }
    }
}

/// Starts local instances.
#[derive(Debug)]
pub struct LocalCluster;

/// A running local instance.
pub struct LocalHandle {
    dir: PathBuf,
    state: LocalState,
    ready_after: Duration,
    parts: Parts,
    request_log: Option<RequestLog>,
}

impl std::fmt::Debug for LocalHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalHandle")
            .field("dir", &self.dir)
            .field("super_url", &self.state.super_url)
            .finish_non_exhaustive()
    }
}

/// The running components.
#[derive(Default)]
struct Parts {
    server: Option<ServerHandle>,
    nodesim: Option<NodesimHandle>,
    agent: Option<AgentHandle>,
    syncer: Option<SyncerHandle>,
    manager: Option<ManagerHandle>,
}

impl Parts {
    /// The syncer goes first (it watches tenants), then the tenant control planes, vn-agent,
    /// the nodes and the super cluster.
    async fn stop(&mut self) {
        if let Some(s) = self.syncer.take()
            && let Err(e) = s.shutdown().await
        {
            tracing::warn!(error = %e, "syncer stopped with an error");
        }
        if let Some(m) = self.manager.take() {
            m.shutdown().await;
        }
        if let Some(a) = self.agent.take()
            && let Err(e) = a.shutdown().await
        {
            tracing::warn!(error = %e, "vn-agent stopped with an error");
        }
        if let Some(n) = self.nodesim.take() {
            n.shutdown();
        }
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

impl LocalHandle {
    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What `state.json` records about this instance.
    pub fn state(&self) -> &LocalState {
        &self.state
    }

    /// Time from the start of [`LocalCluster::start`] until everything was ready.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// The super cluster's API URL.
    pub fn super_url(&self) -> &str {
        &self.state.super_url
    }

    /// The super cluster's admin kubeconfig file.
    pub fn super_kubeconfig(&self) -> PathBuf {
        self.state.super_kubeconfig.clone()
    }

    /// The admin kubeconfig file of tenant `name` (written once it was Running).
    pub fn tenant_kubeconfig(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.kubeconfig"))
    }

    /// An admin client of the super cluster.
    pub fn super_client(&self) -> Option<Client> {
        self.parts.server.as_ref().map(ServerHandle::client)
    }

    /// The distinct requests each component made to the super cluster, when recording.
    pub fn requests(&self) -> Vec<Recorded> {
        self.request_log
            .as_ref()
            .map(RequestLog::requests)
            .unwrap_or_default()
    }

    /// Stops every component (tenant control planes included; their data stays on disk) and
    /// records that the instance is no longer running.
    pub async fn shutdown(mut self) {
        self.parts.stop().await;
        self.state.pid = None;
        self.state.ready = false;
        if let Err(e) = self.state.save(&self.dir) {
            tracing::warn!(error = %e, "cannot record the stop in state.json");
        }
    }
}

/// Runs `f` as `step`, reporting its progress and timing.
async fn step<T, F>(progress: &dyn Progress, step: Step, f: F) -> Result<T, LocalError>
where
    F: std::future::Future<Output = Result<(T, String), String>>,
{
    progress.started(&step);
    let t0 = Instant::now();
    match f.await {
        Ok((v, detail)) => {
            progress.finished(&step, t0.elapsed(), &detail);
            Ok(v)
        }
        Err(cause) => {
            let e = LocalError::step(step.clone(), cause);
            progress.failed(&step, t0.elapsed(), &e);
            Err(e)
        }
    }
}

/// Writes `content` to `path` readable by the owner only (kubeconfigs hold keys).
pub(crate) fn write_private(path: &Path, content: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    f.write_all(content.as_bytes())
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn listener(addr: SocketAddr, serves: &str) -> Listener {
    Listener {
        addr: addr.to_string(),
        serves: serves.to_string(),
    }
}

impl LocalCluster {
    /// Starts everything and returns once every tenant is Running and has run a pod.
    /// Components started before a failing step are stopped again.
    pub async fn start(opts: LocalOptions) -> Result<LocalHandle, LocalError> {
        let t0 = Instant::now();
        let mut parts = Parts::default();
        let mut state = LocalState::default();
        match start_parts(&opts, &mut parts, &mut state).await {
            Ok(()) => {
                let ready_after = t0.elapsed();
                state.ready = true;
                state.ready_seconds = Some(ready_after.as_secs_f64());
                if let Err(e) = state.save(&opts.dir) {
                    parts.stop().await;
                    return Err(LocalError::step(Step::StateDir, e));
                }
                Ok(LocalHandle {
                    dir: opts.dir.clone(),
                    state,
                    ready_after,
                    parts,
                    request_log: opts.request_log.clone(),
                })
            }
            Err(e) => {
                parts.stop().await;
                if state.pid.is_some() {
                    state.pid = None;
                    let _ = state.save(&opts.dir);
                }
                Err(e)
            }
        }
    }
}

async fn start_parts(
    opts: &LocalOptions,
    parts: &mut Parts,
    state: &mut LocalState,
) -> Result<(), LocalError> {
    let progress = opts.progress.as_ref();
    let dir = opts.dir.clone();
    let previous = step(progress, Step::StateDir, prepare_dir(&dir)).await?;
    if let Some(pid) = previous.as_ref().and_then(LocalState::live_pid)
        && pid != std::process::id()
    {
        return Err(LocalError::AlreadyRunning { pid, dir });
    }
    let previous = previous.unwrap_or_default();
    state.pid = Some(std::process::id());
    state.started_at = Some(jiff::Timestamp::now().to_string());
    state.super_kubeconfig = dir.join("super.kubeconfig");
    let save = |s: &LocalState| {
        s.save(&dir)
            .map_err(|e| LocalError::step(Step::StateDir, e))
    };
    save(state)?;

    let pki = pki::KubeletPki::issue(&[opts.bind, IpAddr::from([127, 0, 0, 1])])
        .map_err(|e| LocalError::step(Step::SuperCluster, e))?;
    let server = step(progress, Step::SuperCluster, start_super(opts, &pki)).await?;
    state.super_url = server.url().to_string();
    state.listeners.insert(
        "super-apiserver".into(),
        listener(server.addr(), "super cluster API (HTTPS)"),
    );
    write_private(&state.super_kubeconfig, server.kubeconfig_yaml())
        .map_err(|e| LocalError::step(Step::SuperCluster, e))?;
    let admin = server.client();
    let identities = Identities::issue(&server, opts.request_log.as_ref())
        .await
        .map_err(|e| LocalError::step(Step::SuperCluster, e))?;
    parts.server = Some(server);
    save(state)?;

    let cv_name = step(progress, Step::Crds, install_crds(&admin)).await?;

    let nodes = step(
        progress,
        Step::Nodes,
        start_nodes(opts, parts, &pki, &previous),
    )
    .await?;
    if let Some(n) = &parts.nodesim {
        state.listeners.insert(
            "nodesim-kubelet".into(),
            listener(
                n.kubelet_addr(),
                "kubelet API of every simulated node (HTTPS, mTLS)",
            ),
        );
    }
    state.nodes = nodes;

    let files = pki
        .write_vn_agent_files(&dir.join("pki"))
        .map_err(|e| LocalError::step(Step::VnAgent, e))?;
    let agent = step(
        progress,
        Step::VnAgent,
        start_agent(opts, &identities, &files, &previous),
    )
    .await?;
    let vn_agent_port = agent.local_addr().port();
    state.listeners.insert(
        "vn-agent".into(),
        listener(
            agent.local_addr(),
            "kubelet API for tenant API servers (HTTPS, mTLS)",
        ),
    );
    state.listeners.insert(
        "vn-agent-ops".into(),
        listener(agent.ops_addr(), "vn-agent /metrics /healthz /readyz"),
    );
    parts.agent = Some(agent);

    if opts.leader_election {
        ensure_namespace(&admin, COMPONENT_NAMESPACE)
            .await
            .map_err(|e| LocalError::step(Step::VcManager, e))?;
    }
    let manager = step(
        progress,
        Step::VcManager,
        start_manager(opts, &identities, &previous),
    )
    .await?;
    if let Some(addr) = manager.ops_addr() {
        state.listeners.insert(
            "vc-manager-ops".into(),
            listener(addr, "vc-manager /metrics /healthz /readyz"),
        );
    }
    parts.manager = Some(manager);
    save(state)?;

    // Tenants' control planes answer before the syncer starts watching them (after a restart
    // their VirtualClusters still say Running while vc-manager brings them back).
    let ready = futures::future::try_join_all(
        opts.tenants
            .iter()
            .map(|name| tenant_running(opts, &admin, name, &cv_name)),
    )
    .await?;

    let syncer = step(
        progress,
        Step::Syncer,
        start_syncer(opts, &identities, vn_agent_port, &previous),
    )
    .await?;
    state.listeners.insert(
        "syncer-ops".into(),
        listener(syncer.ops_addr(), "syncer /metrics /healthz /readyz"),
    );
    parts.syncer = Some(syncer);
    save(state)?;

    futures::future::try_join_all(ready.iter().map(|t| tenant_pods(opts, t))).await?;
    for t in ready {
        state.tenants.insert(
            t.name.clone(),
            TenantRecord {
                namespace: t.namespace,
                cluster_key: t.cluster_key,
                kubeconfig: t.kubeconfig_path,
                server: t.server,
            },
        );
    }
    Ok(())
}

async fn prepare_dir(dir: &Path) -> Result<(Option<LocalState>, String), String> {
    let hint = "choose another directory with --dir";
    std::fs::create_dir_all(dir)
        .map_err(|e| steps::explain_io(&format!("cannot create {}", dir.display()), &e, hint))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok")
        .map_err(|e| steps::explain_io(&format!("cannot write to {}", dir.display()), &e, hint))?;
    let _ = std::fs::remove_file(&probe);
    let previous = LocalState::load(dir).map_err(|e| e.to_string())?;
    let detail = match &previous {
        Some(_) => format!("{} (resuming)", dir.display()),
        None => format!("{} (new)", dir.display()),
    };
    Ok((previous, detail))
}

async fn start_super(
    opts: &LocalOptions,
    pki: &pki::KubeletPki,
) -> Result<(ServerHandle, String), String> {
    let addr = SocketAddr::new(opts.bind, opts.port);
    let server = ServerBuilder::new()
        .name("super")
        .listen(addr)
        .data_dir(opts.dir.join("super"))
        .kubelet_client_cert(
            pki.apiserver_client.cert_pem.clone(),
            pki.apiserver_client.key_pem.clone(),
        )
        .kubelet_certificate_authority(pki.serving_ca.cert_pem.clone())
        .start()
        .await
        .map_err(|e| match e {
            apiserver::StartError::Bind { addr, source } => steps::explain_io(
                &format!("port {} on {}", addr.port(), addr.ip()),
                &source,
                "stop what uses it (`vcctl down`?) or choose another with --port",
            ),
            other => other.to_string(),
        })?;
    let detail = server.url().to_string();
    Ok((server, detail))
}

/// Installs (or updates) the CRDs and the default ClusterVersion; returns its name.
async fn install_crds(admin: &Client) -> Result<(String, String), String> {
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    for crd in [VirtualCluster::crd(), ClusterVersion::crd()] {
        let name = crd.name_any();
        crds.patch(&name, &pp, &Patch::Apply(&crd))
            .await
            .map_err(|e| format!("applying CRD {name}: {e}"))?;
    }
    let cv: ClusterVersion = serde_yaml::from_str(DEFAULT_CLUSTER_VERSION)
        .map_err(|e| format!("the built-in ClusterVersion does not parse: {e}"))?;
    let cv_name = cv.name_any();
    let cvs: Api<ClusterVersion> = Api::all(admin.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    // The new API is served once the CRDs are established.
    loop {
        match cvs.patch(&cv_name, &pp, &Patch::Apply(&cv)).await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() > deadline => {
                return Err(format!("applying ClusterVersion {cv_name}: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let vcs: Api<VirtualCluster> = Api::all(admin.clone());
    vcs.list(&Default::default())
        .await
        .map_err(|e| format!("the VirtualCluster API is not served: {e}"))?;
    Ok((cv_name.clone(), format!("ClusterVersion {cv_name}")))
}

async fn start_nodes(
    opts: &LocalOptions,
    parts: &mut Parts,
    pki: &pki::KubeletPki,
    previous: &LocalState,
) -> Result<(Vec<String>, String), String> {
    let server = parts
        .server
        .as_ref()
        .ok_or_else(|| "the super cluster is not running".to_string())?;
    let mut config = NodesimConfig::new(server.kube_config(), 0, pki.client_ca.cert_pem.clone());
    config.pools = opts.pools.clone();
    config.kubelet.listen = ports::reuse_or_any(opts.bind, previous.port("nodesim-kubelet"));
    config.kubelet.serving = Some((pki.serving.cert_pem.clone(), pki.serving.key_pem.clone()));
    let handle = nodesim::start(config).await.map_err(|e| e.to_string())?;
    handle
        .wait_ready(Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    let names = handle.node_names();
    let gone = remove_nodes(&handle, previous, &names).await;
    let classes: HashSet<_> = opts
        .pools
        .iter()
        .filter_map(|p| p.node_class.clone())
        .collect();
    let mut detail = format!(
        "{} nodes in {} node classes, kubelet API on {}",
        names.len(),
        classes.len(),
        handle.kubelet_addr()
    );
    if gone > 0 {
        detail.push_str(&format!(", {gone} nodes of the previous run removed"));
    }
    parts.nodesim = Some(handle);
    Ok((names, detail))
}

/// Deletes the nodes of the previous run that this run does not simulate (its node classes
/// changed), so that nothing waits for kubelets that never come back.
async fn remove_nodes(handle: &NodesimHandle, previous: &LocalState, current: &[String]) -> usize {
    let mut removed = 0;
    for name in previous.nodes.iter().filter(|n| !current.contains(n)) {
        match handle.remove_node(name).await {
            Ok(()) => removed += 1,
            Err(e) => tracing::warn!(node = %name, error = %e, "could not remove an old node"),
        }
    }
    removed
}

/// Super-cluster clients of the components, each with its own identity (and recorded when
/// asked).
struct Identities {
    clients: BTreeMap<&'static str, Client>,
}

impl Identities {
    async fn issue(server: &ServerHandle, log: Option<&RequestLog>) -> Result<Self, String> {
        let mut clients = BTreeMap::new();
        for c in COMPONENTS {
            let user = c.user();
            let groups = [
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{COMPONENT_NAMESPACE}"),
            ];
            let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
            let yaml = server
                .kubeconfig_for(&user, &groups)
                .map_err(|e| format!("issuing a client certificate for {}: {e}", c.name))?;
            let kc = kube::config::Kubeconfig::from_yaml(&yaml).map_err(|e| e.to_string())?;
            let config = kube::Config::from_custom_kubeconfig(
                kc,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
            let builder =
                kube::client::ClientBuilder::try_from(config).map_err(|e| e.to_string())?;
            let client = match log {
                Some(log) => builder.with_layer(&log.layer(c.name, &user)).build(),
                None => builder.build(),
            };
            clients.insert(c.name, client);
        }
        Ok(Identities { clients })
    }

    fn get(&self, component: &str) -> Result<Client, String> {
        self.clients
            .get(component)
            .cloned()
            .ok_or_else(|| format!("no identity for {component}"))
    }
}

async fn start_agent(
    opts: &LocalOptions,
    ids: &Identities,
    files: &pki::VnAgentFiles,
    previous: &LocalState,
) -> Result<(AgentHandle, String), String> {
    let mut config = vn_agent::Config::local();
    config.listen = ports::reuse_or_any(opts.bind, previous.port("vn-agent"));
    config.metrics_bind_address = ports::reuse_or_any(opts.bind, previous.port("vn-agent-ops"));
    config.kubelet_client_certificate = Some(files.client_cert.clone());
    config.kubelet_client_key = Some(files.client_key.clone());
    config.kubelet_certificate_authority = Some(files.kubelet_ca.clone());
    config.local_mode = true;
    let client = ids.get("vn-agent")?;
    let agent = vn_agent::start_with(config, Arc::new(KubeSuper::new(client)))
        .await
        .map_err(|e| e.to_string())?;
    let detail = format!("{} (local mode)", agent.local_addr());
    Ok((agent, detail))
}

async fn start_syncer(
    opts: &LocalOptions,
    ids: &Identities,
    vn_agent_port: u16,
    previous: &LocalState,
) -> Result<(SyncerHandle, String), String> {
    let config = SyncerConfig {
        vn_agent_port,
        ops_addr: ports::reuse_or_any(opts.bind, previous.port("syncer-ops")),
        leader_election: opts.leader_election,
        leader_election_namespace: Some(COMPONENT_NAMESPACE.into()),
        // Local tenants come and go with this process: notice a recovered one quickly.
        health_interval_secs: 2,
        ..SyncerConfig::default()
    };
    let syncer = syncer::start(config, Some(ids.get("syncer")?))
        .await
        .map_err(|e| e.to_string())?;
    let detail = format!("virtual nodes point at vn-agent port {vn_agent_port}");
    Ok((syncer, detail))
}

async fn start_manager(
    opts: &LocalOptions,
    ids: &Identities,
    previous: &LocalState,
) -> Result<(ManagerHandle, String), String> {
    let leader_election = opts.leader_election.then(|| LeaderElection {
        namespace: COMPONENT_NAMESPACE.into(),
        lease_name: "vc-manager".into(),
        identity: common::leader::default_identity(),
        timings: common::leader::LeaderTimings::default(),
    });
    let config = vc_manager::Config {
        default_provisioner: Provisioner::Local,
        state_dir: opts.dir.join("tenants"),
        control_plane_binaries: opts.control_plane_binaries.clone(),
        local_bind_address: opts.bind,
        timings: vc_manager::state::Timings {
            provision_timeout: opts.tenant_timeout,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            poll: Duration::from_millis(100),
            resync: Duration::from_secs(300),
        },
        leader_election,
        ops_addr: Some(ports::reuse_or_any(
            opts.bind,
            previous.port("vc-manager-ops"),
        )),
        instance: Some("vcctl-up".into()),
        ..vc_manager::Config::default()
    };
    let mode = match &opts.control_plane_binaries {
        Some(d) => format!("tenants run upstream binaries from {}", d.display()),
        None => "tenants run the embedded API server".into(),
    };
    let manager = vc_manager::start(config, ids.get("vc-manager")?)
        .await
        .map_err(|e| e.to_string())?;
    Ok((manager, mode))
}

async fn ensure_namespace(admin: &Client, name: &str) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(admin.clone());
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Namespace::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(format!("creating namespace {name}: {e}")),
    }
}

async fn tenant_running(
    opts: &LocalOptions,
    admin: &Client,
    name: &str,
    cluster_version: &str,
) -> Result<tenants::ReadyTenant, LocalError> {
    let ns = opts.vc_namespace.as_str();
    step(
        opts.progress.as_ref(),
        Step::TenantRunning(name.into()),
        async {
            ensure_namespace(admin, ns).await?;
            tenants::ensure_vc(admin, ns, name, cluster_version).await?;
            let t = tenants::wait_running(admin, ns, name, &opts.dir, opts.tenant_timeout).await?;
            let detail = format!("API {}", t.server);
            Ok((t, detail))
        },
    )
    .await
}

async fn tenant_pods(opts: &LocalOptions, tenant: &tenants::ReadyTenant) -> Result<(), LocalError> {
    step(
        opts.progress.as_ref(),
        Step::TenantPods(tenant.name.clone()),
        async {
            let client = vc_manager::kube_client_from_kubeconfig(&tenant.kubeconfig).await?;
            let node = tenants::probe(&client, opts.tenant_timeout).await?;
            Ok(((), format!("probe pod ran on {node}")))
        },
    )
    .await
}
