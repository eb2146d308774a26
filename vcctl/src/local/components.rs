//! Starting each component against the super cluster, and stopping them in an order that
//! leaves nobody talking to something already gone.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use apiserver::{ServerBuilder, ServerHandle};
use crds::{ClusterVersion, Provisioner, VirtualCluster};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt, ResourceExt};
use nodesim::{NodesimConfig, NodesimHandle};
use syncer::{SyncerConfig, SyncerHandle};
use vc_manager::{LeaderElection, ManagerHandle};
use vn_agent::{AgentHandle, KubeSuper};

use super::options::{COMPONENT_NAMESPACE, COMPONENTS, LocalOptions};
use super::pki::{KubeletPki, VnAgentFiles};
use super::record::RequestLog;
use super::state::LocalState;
use super::{ports, steps};

/// The ClusterVersion installed by default (the sample of `config/samples/`).
pub const DEFAULT_CLUSTER_VERSION: &str =
    include_str!("../../../config/samples/clusterversion.yaml");
/// Field manager of what `vcctl up` applies.
const FIELD_MANAGER: &str = "vcctl";

/// The running components.
#[derive(Default)]
pub(super) struct Parts {
    pub(super) server: Option<ServerHandle>,
    /// Admin client of the super cluster (embedded or external).
    pub(super) admin: Option<Client>,
    /// The identities the components use (kept to restart one of them).
    pub(super) ids: Option<Identities>,
    /// vn-agent's port, which virtual nodes advertise.
    pub(super) vn_agent_port: Option<u16>,
    pub(super) nodesim: Option<NodesimHandle>,
    pub(super) agent: Option<AgentHandle>,
    pub(super) syncer: Option<SyncerHandle>,
    pub(super) manager: Option<ManagerHandle>,
}

impl Parts {
    /// The syncer goes first (it watches tenants), then the tenant control planes, vn-agent,
    /// the nodes and the super cluster.
    pub(super) async fn stop(&mut self) {
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

/// The super cluster's API server, with the kubelet client certificate and kubelet CA of the
/// local kubelet PKI.
pub(super) async fn start_super(
    opts: &LocalOptions,
    pki: &KubeletPki,
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
pub(super) async fn install_crds(admin: &Client) -> Result<(String, String), String> {
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

/// Simulated nodes trusting the local kubelet client CA (and an external super cluster's);
/// returns them with their names.
pub(super) async fn start_nodes(
    opts: &LocalOptions,
    kube: kube::Config,
    pki: &KubeletPki,
    previous: &LocalState,
) -> Result<((NodesimHandle, Vec<String>), String), String> {
    let mut client_ca = pki.client_ca.cert_pem.clone();
    if let Some(ext) = &opts.super_cluster {
        client_ca.push('\n');
        client_ca.push_str(&ext.kubelet_client_ca_pem);
    }
    let mut config = NodesimConfig::new(kube, 0, client_ca);
    if opts.super_cluster.is_some() {
        // A real super cluster schedules its pods itself.
        config.scheduler_name = None;
    }
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
    Ok(((handle, names), detail))
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
pub(super) struct Identities {
    clients: BTreeMap<&'static str, Client>,
}

impl Identities {
    /// A client certificate per component, issued by the super cluster's client CA.
    pub(super) async fn issue(
        server: &ServerHandle,
        log: Option<&RequestLog>,
    ) -> Result<Self, String> {
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
            let builder = kube::client::ClientBuilder::try_from(kube_config(&yaml).await?)
                .map_err(|e| e.to_string())?;
            let client = match log {
                Some(log) => builder.with_layer(&log.layer(c.name, &user)).build(),
                None => builder.build(),
            };
            clients.insert(c.name, client);
        }
        Ok(Identities { clients })
    }

    /// Clients from a kubeconfig per component (an external super cluster).
    pub(super) async fn from_kubeconfigs(
        kubeconfigs: &BTreeMap<String, String>,
        log: Option<&RequestLog>,
    ) -> Result<Self, String> {
        let mut clients = BTreeMap::new();
        for c in COMPONENTS {
            let yaml = kubeconfigs
                .get(c.name)
                .ok_or_else(|| format!("no kubeconfig for {} (its service account)", c.name))?;
            let config = kube_config(yaml)
                .await
                .map_err(|e| format!("the kubeconfig of {}: {e}", c.name))?;
            let builder =
                kube::client::ClientBuilder::try_from(config).map_err(|e| e.to_string())?;
            let client = match log {
                Some(log) => builder.with_layer(&log.layer(c.name, &c.user())).build(),
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

/// The client configuration of a kubeconfig (YAML).
pub(super) async fn kube_config(yaml: &str) -> Result<kube::Config, String> {
    let kc = kube::config::Kubeconfig::from_yaml(yaml).map_err(|e| e.to_string())?;
    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| e.to_string())
}

/// vn-agent in local mode: each request goes to the kubelet of the node running the pod.
pub(super) async fn start_agent(
    opts: &LocalOptions,
    ids: &Identities,
    files: &VnAgentFiles,
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

/// The syncer, advertising vn-agent's port on virtual nodes.
pub(super) async fn start_syncer(
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

/// vc-manager with the `local` provisioner as default and fast local timings.
pub(super) async fn start_manager(
    opts: &LocalOptions,
    ids: &Identities,
    previous: &LocalState,
) -> Result<(ManagerHandle, String), String> {
    let leader_election = opts.leader_election.then(|| LeaderElection {
        namespace: COMPONENT_NAMESPACE.into(),
        lease_name: vc_manager::CONTROLLER_NAME.into(),
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

/// Creates namespace `name` unless it exists.
pub(super) async fn ensure_namespace(admin: &Client, name: &str) -> Result<(), String> {
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
