//! What a local instance runs: options, the default node classes, and the identity each
//! component uses towards the super cluster.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nodesim::PoolConfig;

use super::record::RequestLog;
use super::steps::{NoProgress, Progress};

/// Namespace of the components' identities (and of their Leases), as in `config/`.
pub const COMPONENT_NAMESPACE: &str = "vc-manager";

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

/// Node classes of the default pools: (pool, Unikorn node-class id, flavor, cpu, memory).
/// The ids are fixed so that a restart finds the same classes.
pub const DEFAULT_NODE_CLASSES: [(&str, &str, &str, &str, &str); 2] = [
    (
        "general",
        "5d0e2a1c-7f4b-4c8e-9a61-3f2b8d7e1a01",
        "g.medium",
        "4",
        "16Gi",
    ),
    (
        "highmem",
        "9b3c6e5f-1a2d-4e7f-8c90-6d5a4b3c2e02",
        "m.large",
        "8",
        "64Gi",
    ),
];

/// The default node pools: `per_class` nodes in each of two node classes.
pub fn default_pools(per_class: usize) -> Vec<PoolConfig> {
    DEFAULT_NODE_CLASSES
        .iter()
        .map(|(name, class, flavor, cpu, memory)| PoolConfig {
            name: (*name).to_string(),
            count: per_class,
            cpu: (*cpu).to_string(),
            memory: (*memory).to_string(),
            node_class: Some((*class).to_string()),
            flavor: Some((*flavor).to_string()),
            ..PoolConfig::default()
        })
        .collect()
}

/// An existing super cluster to run against instead of the embedded one (e.g. a real
/// Kubernetes control plane without nodes): the simulated nodes join it, and each component
/// uses an identity of its own, bound to the RBAC of `config/`.
#[derive(Clone)]
pub struct ExternalSuper {
    /// Kubeconfig (YAML) with the rights to install CRDs and register nodes (the simulated
    /// nodes and the start sequence use it; the components do not).
    pub admin_kubeconfig: String,
    /// Kubeconfig (YAML) of each component, by [`Component::name`] (`vc-manager`, `syncer`,
    /// `vn-agent`): e.g. service-account tokens of the service accounts in `config/`.
    pub component_kubeconfigs: std::collections::BTreeMap<String, String>,
    /// PEM CA(s) of the super API server's kubelet client certificate: the simulated kubelets
    /// accept clients it signed (besides vn-agent's).
    pub kubelet_client_ca_pem: String,
}

impl std::fmt::Debug for ExternalSuper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalSuper")
            .field(
                "components",
                &self.component_kubeconfigs.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
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
    /// Run against this super cluster instead of starting the embedded one.
    pub super_cluster: Option<ExternalSuper>,
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
            super_cluster: None,
            leader_election: false,
            request_log: None,
            tenant_timeout: Duration::from_secs(120),
            progress: Arc::new(NoProgress),
        }
    }
}
