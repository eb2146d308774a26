//! The benchmark environment: an embedded super cluster with the VirtualCluster CRD, nodesim
//! nodes that run pods at once, and embedded tenant control planes registered as Running
//! VirtualClusters exactly as `syncer/tests/it/harness.rs::add_tenant` does (VC object, root
//! namespace, `admin-kubeconfig` secret, status phase Running).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use apiserver::{ServerBuilder, ServerHandle};
use crds::tenancy::{self, TenantId};
use crds::{ClusterPhase, VirtualCluster, VirtualClusterSpec, VirtualClusterStatus};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

use super::runtimes::{Runtimes, on};

/// Namespace of the VirtualCluster objects.
pub const VC_NAMESPACE: &str = "tenants";
/// Namespace the benchmark pods live in, in every tenant.
pub const BENCH_NS: &str = "bench";

const VC_CRD: &str = include_str!("../../../config/crd/tenancy.x-k8s.io_virtualclusters.yaml");

/// The super cluster.
pub struct SuperCluster {
    /// The embedded API server (runs on the super runtime).
    pub server: ServerHandle,
    /// Admin client built on the harness runtime.
    pub client: Client,
    /// Admin kubeconfig file for the syncer process.
    pub kubeconfig: PathBuf,
}

/// Polls `f` every 50 ms until it returns `Some`, failing with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        anyhow::ensure!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn namespace(name: &str, annotations: BTreeMap<String, String>) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// A client for `server` whose connections and buffer task live on the current (harness)
/// runtime, so that client-side work is not charged to the server's runtime.
pub fn local_client(server: &ServerHandle) -> anyhow::Result<Client> {
    Ok(Client::try_from(server.kube_config())?)
}

/// Starts the super cluster, installs the VirtualCluster CRD and writes a kubeconfig to `dir`.
pub async fn start_super(
    rts: &Runtimes,
    dir: &Path,
    timeout: Duration,
) -> anyhow::Result<SuperCluster> {
    let server = on(
        rts.super_rt.handle(),
        ServerBuilder::new().name("super").start(),
    )
    .await?
    .context("starting the super cluster")?;
    let client = local_client(&server)?;
    let crd: CustomResourceDefinition = serde_yaml::from_str(VC_CRD).context("VC CRD yaml")?;
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &crd)
        .await
        .context("creating the VirtualCluster CRD")?;
    let vcs: Api<VirtualCluster> = Api::all(client.clone());
    eventually("the VirtualCluster API", timeout, || async {
        vcs.list(&ListParams::default().limit(1))
            .await
            .ok()
            .map(|_| ())
    })
    .await?;
    create_namespace(&client, VC_NAMESPACE).await?;
    let kubeconfig = dir.join("super.kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig_yaml()).context("writing super kubeconfig")?;
    Ok(SuperCluster {
        server,
        client,
        kubeconfig,
    })
}

/// Creates a namespace (an existing one is fine).
pub async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    match api
        .create(&PostParams::default(), &namespace(name, BTreeMap::new()))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating namespace {name}")),
    }
}

/// Waits until the `default` service account of `ns` exists (pods are rejected before).
pub async fn wait_default_sa(client: &Client, ns: &str, timeout: Duration) -> anyhow::Result<()> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    eventually(&format!("serviceaccount {ns}/default"), timeout, || async {
        api.get_opt("default").await.ok().flatten().map(|_| ())
    })
    .await
}

/// Pods per node: nodesim carves a /24 pod CIDR per node.
pub const MAX_PODS_PER_NODE: u32 = 250;

/// Starts nodesim against the super cluster: `nodes` nodes, pods Running as soon as they are
/// bound (start delay 0).
pub async fn start_nodes(
    rts: &Runtimes,
    sup: &SuperCluster,
    nodes: usize,
    workers: usize,
    timeout: Duration,
) -> anyhow::Result<nodesim::NodesimHandle> {
    let mut cfg =
        nodesim::NodesimConfig::new(sup.server.kube_config(), nodes, sup.server.client_ca_pem());
    cfg.pools[0].max_pods = MAX_PODS_PER_NODE;
    cfg.status_workers = workers;
    cfg.bind_workers = workers;
    cfg.mock.start_delay = Duration::ZERO;
    // As in the paper, nodes only run pods: no scheduler/kubelet Events in the measured path.
    cfg.events = false;
    let sim = on(rts.nodes.handle(), nodesim::start(cfg))
        .await?
        .context("starting nodesim")?;
    sim.wait_ready(timeout).await.context("nodesim nodes")?;
    let api: Api<Node> = Api::all(sup.client.clone());
    eventually("nodes Ready", timeout, || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        let ready = list.items.iter().filter(|n| is_ready(n)).count();
        (ready >= nodes).then_some(())
    })
    .await?;
    Ok(sim)
}

fn is_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A tenant control plane registered in the super cluster.
pub struct Tenant {
    /// VirtualCluster name.
    pub name: String,
    /// Its embedded API server (runs on the tenants runtime).
    pub server: ServerHandle,
    /// Admin client built on the harness runtime.
    pub client: Client,
    /// The super namespace of the tenant's [`BENCH_NS`].
    pub super_ns: String,
}

/// Starts one tenant API server per name (a few at a time), registers each as a Running
/// VirtualCluster with `spec`, and creates [`BENCH_NS`] in it.
pub async fn start_tenants(
    rts: &Runtimes,
    super_client: &Client,
    names: &[String],
    spec: impl Fn(&str) -> VirtualClusterSpec,
    timeout: Duration,
) -> anyhow::Result<Vec<Tenant>> {
    let servers: Vec<(String, ServerHandle)> = futures::stream::iter(names.iter().cloned())
        .map(|name| {
            let handle = rts.tenants.handle().clone();
            async move {
                let srv = on(&handle, ServerBuilder::new().name(&name).start())
                    .await?
                    .with_context(|| format!("starting tenant {name}"))?;
                anyhow::Ok((name, srv))
            }
        })
        .buffered(4)
        .try_collect()
        .await?;
    let mut tenants = Vec::with_capacity(servers.len());
    for (name, server) in servers {
        let key = register(super_client, &name, spec(&name), &server).await?;
        let client = local_client(&server)?;
        tenants.push(Tenant {
            super_ns: tenancy::super_namespace(&key, BENCH_NS)?,
            name,
            server,
            client,
        });
    }
    futures::stream::iter(tenants.iter())
        .map(|t| async move {
            create_namespace(&t.client, BENCH_NS).await?;
            wait_default_sa(&t.client, BENCH_NS, timeout).await
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(tenants)
}

/// Registers a tenant API server as a Running VirtualCluster; returns its cluster key.
async fn register(
    super_client: &Client,
    name: &str,
    spec: VirtualClusterSpec,
    server: &ServerHandle,
) -> anyhow::Result<String> {
    let vcs: Api<VirtualCluster> = Api::namespaced(super_client.clone(), VC_NAMESPACE);
    let vc = vcs
        .create(&PostParams::default(), &VirtualCluster::new(name, spec))
        .await
        .with_context(|| format!("creating VirtualCluster {name}"))?;
    let id = TenantId::from_vc(&vc)?;
    let ns: Api<Namespace> = Api::all(super_client.clone());
    ns.create(
        &PostParams::default(),
        &namespace(&id.cluster_key, id.root_namespace_annotations()),
    )
    .await
    .with_context(|| format!("creating root namespace {}", id.cluster_key))?;
    let secret = tenancy::admin_kubeconfig_secret(server.kubeconfig_yaml());
    Api::<Secret>::namespaced(super_client.clone(), &id.cluster_key)
        .create(&PostParams::default(), &secret)
        .await
        .context("creating the admin-kubeconfig secret")?;
    let status = VirtualClusterStatus {
        phase: Some(ClusterPhase::Running),
        ..VirtualClusterStatus::default()
    };
    vcs.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "status": status })),
    )
    .await
    .context("setting the VirtualCluster Running")?;
    Ok(id.cluster_key)
}

/// The VirtualCluster spec of benchmark tenants (sync settings left to the syncer's defaults).
pub fn default_spec(_name: &str) -> VirtualClusterSpec {
    VirtualClusterSpec {
        cluster_version_name: "bench".into(),
        ..VirtualClusterSpec::default()
    }
}

/// Waits until every tenant's [`BENCH_NS`] has its super namespace.
pub async fn wait_super_namespaces(
    super_client: &Client,
    tenants: &[Tenant],
    timeout: Duration,
) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(super_client.clone());
    for t in tenants {
        eventually(
            &format!("super namespace {}", t.super_ns),
            timeout,
            || async { api.get_opt(&t.super_ns).await.ok().flatten().map(|_| ()) },
        )
        .await?;
    }
    Ok(())
}
