//! Test environment: an embedded super cluster with the VirtualCluster CRD, embedded tenant API
//! servers registered by hand (VC object + `admin-kubeconfig` secret), the syncer in-process, and
//! a kubelet stand-in for the super cluster (binds pods to nodes and marks them Running).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use apiserver::{ServerBuilder, ServerHandle};
use crds::tenancy::{self, TenantId};
use crds::{ClusterPhase, VirtualCluster, VirtualClusterSpec, VirtualClusterStatus};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    Binding, Container, Namespace, Node, NodeAddress, NodeCondition, NodeStatus, ObjectReference,
    Pod, PodCondition, PodIP, PodSpec, PodStatus, Secret, ServiceAccount,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use syncer::{SyncerConfig, SyncerHandle};
use tokio_util::sync::CancellationToken;

/// Namespace of the VirtualCluster objects in tests.
pub const VC_NAMESPACE: &str = "tenants";

/// A super cluster with the CRDs installed.
pub async fn super_cluster() -> ServerHandle {
    common::process::install_crypto_provider();
    common::process::init_tracing(common::process::LogFormat::Text);
    let srv = ServerBuilder::new()
        .name("super")
        .start()
        .await
        .expect("super cluster");
    let crd: CustomResourceDefinition = serde_yaml::from_str(include_str!(
        "../../../config/crd/tenancy.x-k8s.io_virtualclusters.yaml"
    ))
    .expect("CRD yaml");
    let crds: Api<CustomResourceDefinition> = Api::all(srv.client());
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("create CRD");
    let vcs: Api<VirtualCluster> = Api::all(srv.client());
    eventually(
        "VirtualCluster API served",
        Duration::from_secs(20),
        || async { vcs.list(&Default::default()).await.ok().map(|_| ()) },
    )
    .await;
    let ns: Api<Namespace> = Api::all(srv.client());
    ns.create(
        &PostParams::default(),
        &namespace(VC_NAMESPACE, BTreeMap::new()),
    )
    .await
    .expect("VC namespace");
    srv
}

/// The tenant pod once it is bound and Running.
pub async fn running_bound(client: &Client, ns: &str, name: &str) -> Option<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let p = api.get_opt(name).await.ok()??;
    let running = p.status.as_ref()?.phase.as_deref() == Some("Running");
    let bound = p.spec.as_ref()?.node_name.is_some();
    (running && bound).then_some(p)
}

/// A namespace object.
pub fn namespace(name: &str, annotations: BTreeMap<String, String>) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// A tenant: its embedded API server and how it is registered in the super cluster.
pub struct TenantEnv {
    /// VirtualCluster name.
    pub name: String,
    /// The tenant API server (None once stopped).
    pub server: Option<ServerHandle>,
    /// Admin client of the tenant.
    pub client: Client,
    /// Cluster key.
    pub key: String,
}

impl TenantEnv {
    /// Super namespace of tenant namespace `ns`.
    pub fn super_ns(&self, ns: &str) -> String {
        tenancy::super_namespace(&self.key, ns).expect("super namespace")
    }
}

/// Starts a tenant API server and registers it as a Running VirtualCluster.
pub async fn add_tenant(super_client: &Client, name: &str, spec: VirtualClusterSpec) -> TenantEnv {
    let server = ServerBuilder::new()
        .name(name)
        .start()
        .await
        .expect("tenant server");
    register_tenant(super_client, name, spec, server).await
}

/// Registers a running tenant API server as a Running VirtualCluster.
pub async fn register_tenant(
    super_client: &Client,
    name: &str,
    spec: VirtualClusterSpec,
    server: ServerHandle,
) -> TenantEnv {
    let client = server.client();
    let vcs: Api<VirtualCluster> = Api::namespaced(super_client.clone(), VC_NAMESPACE);
    let vc = vcs
        .create(&PostParams::default(), &VirtualCluster::new(name, spec))
        .await
        .expect("create VC");
    let id = TenantId::from_vc(&vc).expect("tenant id");
    let ns: Api<Namespace> = Api::all(super_client.clone());
    ns.create(
        &PostParams::default(),
        &namespace(&id.cluster_key, id.root_namespace_annotations()),
    )
    .await
    .expect("root namespace");
    let secrets: Api<Secret> = Api::namespaced(super_client.clone(), &id.cluster_key);
    let secret = tenancy::admin_kubeconfig_secret(server.kubeconfig_yaml());
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("admin kubeconfig");
    set_phase(super_client, name, ClusterPhase::Running).await;
    TenantEnv {
        name: name.into(),
        server: Some(server),
        client,
        key: id.cluster_key,
    }
}

/// Sets a VirtualCluster's phase through the status subresource.
pub async fn set_phase(super_client: &Client, name: &str, phase: ClusterPhase) {
    let vcs: Api<VirtualCluster> = Api::namespaced(super_client.clone(), VC_NAMESPACE);
    let status = VirtualClusterStatus {
        phase: Some(phase),
        ..VirtualClusterStatus::default()
    };
    vcs.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": status})),
    )
    .await
    .expect("VC status");
}

/// Syncer settings for tests: no leader election, fast loops, any free ops port.
pub fn syncer_config() -> SyncerConfig {
    SyncerConfig {
        leader_election: false,
        ops_addr: "127.0.0.1:0".parse().expect("addr"),
        patrol_interval_secs: 2,
        lease_renew_secs: 1,
        health_interval_secs: 1,
        vnode_gc_grace_secs: 600,
        tenant_timeout_secs: 3,
        down_workers: 8,
        up_workers: 8,
        ..SyncerConfig::default()
    }
}

/// Starts the syncer in-process.
pub async fn start_syncer(super_client: &Client, config: SyncerConfig) -> SyncerHandle {
    syncer::start(config, Some(super_client.clone()))
        .await
        .expect("syncer")
}

/// Polls `f` until it returns `Some`, panicking with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A minimal tenant pod.
pub fn pod(name: &str, image: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("app".to_string(), name.to_string())])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "main".into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: None,
    }
}

/// Creates a namespace in a tenant (ignoring "already exists").
pub async fn tenant_ns(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api
        .create(&PostParams::default(), &namespace(name, BTreeMap::new()))
        .await;
    // What the service account controller would add.
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("default".into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    let _ = sas.create(&PostParams::default(), &sa).await;
}

/// The kubelet stand-in of the super cluster: Ready nodes, binding of synced pods round robin,
/// Running status with a pod IP, and finalization of gracefully deleted pods.
pub async fn fake_kubelet(super_client: &Client, nodes: &[&str]) -> CancellationToken {
    let api: Api<Node> = Api::all(super_client.clone());
    for (i, name) in nodes.iter().enumerate() {
        let node = Node {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(BTreeMap::from([(
                    "kubernetes.io/hostname".to_string(),
                    name.to_string(),
                )])),
                ..ObjectMeta::default()
            },
            ..Node::default()
        };
        let _ = api.create(&PostParams::default(), &node).await;
        let status = NodeStatus {
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".into(),
                address: format!("10.0.0.{}", i + 1),
            }]),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: Some("KubeletReady".into()),
                ..NodeCondition::default()
            }]),
            ..NodeStatus::default()
        };
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": status})),
        )
        .await
        .expect("node status");
    }
    let cancel = CancellationToken::new();
    let names: Vec<String> = nodes.iter().map(|s| s.to_string()).collect();
    let client = super_client.clone();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::all(client.clone());
        let cfg = watcher::Config::default().labels(tenancy::LABEL_VC_NAME);
        let mut stream = watcher(pods, cfg)
            .default_backoff()
            .applied_objects()
            .boxed();
        let mut next = 0usize;
        let mut ip = 0u32;
        loop {
            let pod = tokio::select! {
                _ = stop.cancelled() => return,
                p = stream.next() => match p { Some(Ok(p)) => p, Some(Err(_)) => continue, None => return },
            };
            let ns = pod.namespace().unwrap_or_default();
            let name = pod.name_any();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            if pod.metadata.deletion_timestamp.is_some() {
                let _ = api
                    .delete(
                        &name,
                        &DeleteParams {
                            grace_period_seconds: Some(0),
                            ..Default::default()
                        },
                    )
                    .await;
                continue;
            }
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
            match node {
                None => {
                    let target = &names[next % names.len()];
                    next += 1;
                    let binding = Binding {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
                            namespace: Some(ns.clone()),
                            ..ObjectMeta::default()
                        },
                        target: ObjectReference {
                            kind: Some("Node".into()),
                            name: Some(target.clone()),
                            ..ObjectReference::default()
                        },
                    };
                    let _: Result<serde_json::Value, _> = api
                        .create_subresource("binding", &name, &PostParams::default(), &binding)
                        .await;
                }
                Some(node) => {
                    let running =
                        pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                    if running {
                        continue;
                    }
                    ip += 1;
                    let pod_ip = format!("10.244.{}.{}", ip / 250, ip % 250 + 1);
                    let host_ip = names
                        .iter()
                        .position(|n| *n == node)
                        .map(|i| format!("10.0.0.{}", i + 1))
                        .unwrap_or_default();
                    let status = PodStatus {
                        phase: Some("Running".into()),
                        pod_ip: Some(pod_ip.clone()),
                        pod_ips: Some(vec![PodIP { ip: pod_ip }]),
                        host_ip: Some(host_ip),
                        conditions: Some(vec![
                            PodCondition {
                                type_: "PodScheduled".into(),
                                status: "True".into(),
                                ..PodCondition::default()
                            },
                            PodCondition {
                                type_: "Ready".into(),
                                status: "True".into(),
                                ..PodCondition::default()
                            },
                        ]),
                        ..PodStatus::default()
                    };
                    let _ = api
                        .patch_status(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(serde_json::json!({"status": status})),
                        )
                        .await;
                }
            }
        }
    });
    cancel
}
