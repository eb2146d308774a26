//! Node registration and heartbeats: the Node object (capacity, labels, taints, addresses,
//! daemon endpoint, node info), the `kube-node-lease` Lease renewed on Virtual Kubelet's
//! cadence, and status updates when conditions change or the status interval passes.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Namespace, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec,
    NodeStatus, NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};

use crate::config::{HeartbeatConfig, LABEL_NODE_CLASS, PoolConfig, TAINT_PROVIDER};
use crate::provider::{NodeInfo, PodProvider};

/// Namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Taint the node lifecycle controller puts on NotReady nodes (nodesim applies it itself).
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";

/// Everything about one simulated node.
#[derive(Debug, Clone)]
pub struct NodeSetup {
    /// Name.
    pub name: String,
    /// Pool it belongs to.
    pub pool: String,
    /// InternalIP.
    pub address: IpAddr,
    /// Kubelet port.
    pub port: u16,
    /// Pod CIDR.
    pub pod_cidr: ipnet::Ipv4Net,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Capacity (= allocatable).
    pub capacity: BTreeMap<String, Quantity>,
    /// Default requests for containers without requests (milli-units).
    pub default_requests: crate::scheduler::decide::Resources,
    /// OS.
    pub os: String,
    /// Architecture.
    pub arch: String,
}

/// Errors of node registration.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// An API call failed.
    #[error("{what} node {node}: {source}")]
    Api {
        /// What was being done.
        what: &'static str,
        /// Node name.
        node: String,
        /// Cause.
        source: kube::Error,
    },
    /// A pool setting is invalid.
    #[error("pool {pool}: {message}")]
    Config {
        /// Pool.
        pool: String,
        /// What is wrong.
        message: String,
    },
}

/// Expands pools into nodes, carving a /24 per node out of `pod_cidr`.
pub fn plan_nodes(
    pools: &[PoolConfig],
    provider_name: &str,
    address: IpAddr,
    port: u16,
    pod_cidr: ipnet::Ipv4Net,
    os: &str,
) -> Result<Vec<NodeSetup>, NodeError> {
    let mut subnets = pod_cidr
        .subnets(24.max(pod_cidr.prefix_len()))
        .map_err(|e| NodeError::Config {
            pool: "-".into(),
            message: e.to_string(),
        })?;
    let mut out = Vec::new();
    for pool in pools {
        let bad = |message: String| NodeError::Config {
            pool: pool.name.clone(),
            message,
        };
        for (res, q) in [
            ("cpu", &pool.cpu),
            ("memory", &pool.memory),
            ("ephemeral-storage", &pool.ephemeral_storage),
        ] {
            crds::quantity::parse_milli(q).map_err(|e| bad(format!("{res}: {e}")))?;
        }
        let mut default_requests = BTreeMap::new();
        for (res, q) in &pool.default_requests {
            default_requests.insert(
                res.clone(),
                crds::quantity::parse_milli(q).map_err(|e| bad(format!("default {res}: {e}")))?,
            );
        }
        for i in 0..pool.count {
            let name = format!("{}-{i}", pool.name);
            let cidr = subnets.next().ok_or_else(|| {
                bad(format!(
                    "pod CIDR {pod_cidr} has no /24 left for node {name}"
                ))
            })?;
            let mut labels = BTreeMap::from([
                ("kubernetes.io/hostname".to_string(), name.clone()),
                ("kubernetes.io/os".to_string(), os.to_string()),
                ("kubernetes.io/arch".to_string(), pool.arch.clone()),
                ("beta.kubernetes.io/os".to_string(), os.to_string()),
                ("beta.kubernetes.io/arch".to_string(), pool.arch.clone()),
                ("type".to_string(), "virtual-kubelet".to_string()),
                (
                    "nodesim.virtualcluster.io/pool".to_string(),
                    pool.name.clone(),
                ),
            ]);
            if let Some(class) = &pool.node_class {
                labels.insert(LABEL_NODE_CLASS.into(), class.clone());
            }
            if let Some(flavor) = &pool.flavor {
                labels.insert("node.kubernetes.io/instance-type".into(), flavor.clone());
            }
            labels.extend(pool.labels.clone());
            let mut taints = pool.taints.clone();
            if pool.provider_taint {
                taints.push(Taint {
                    key: TAINT_PROVIDER.into(),
                    value: Some(provider_name.into()),
                    effect: "NoSchedule".into(),
                    ..Default::default()
                });
            }
            let mut capacity = BTreeMap::from([
                ("cpu".to_string(), Quantity(pool.cpu.clone())),
                ("memory".to_string(), Quantity(pool.memory.clone())),
                (
                    "ephemeral-storage".to_string(),
                    Quantity(pool.ephemeral_storage.clone()),
                ),
                ("pods".to_string(), Quantity(pool.max_pods.to_string())),
            ]);
            if pool.gpu > 0 {
                capacity.insert("nvidia.com/gpu".into(), Quantity(pool.gpu.to_string()));
            }
            out.push(NodeSetup {
                name,
                pool: pool.name.clone(),
                address,
                port,
                pod_cidr: cidr,
                labels,
                taints,
                capacity,
                default_requests: default_requests.clone(),
                os: os.to_string(),
                arch: pool.arch.clone(),
            });
        }
    }
    Ok(out)
}

impl NodeSetup {
    /// What the provider is told about the node.
    pub fn info(&self) -> NodeInfo {
        NodeInfo {
            name: self.name.clone(),
            address: self.address,
            pod_cidr: ipnet::IpNet::V4(self.pod_cidr),
            capacity: self.capacity.clone(),
        }
    }

    fn taints_for(&self, conditions: &[NodeCondition]) -> Vec<Taint> {
        let mut taints = self.taints.clone();
        let ready = conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if !ready {
            taints.push(Taint {
                key: TAINT_NOT_READY.into(),
                effect: "NoSchedule".into(),
                ..Default::default()
            });
        }
        taints
    }

    /// The status a kubelet reports.
    pub fn status(&self, conditions: Vec<NodeCondition>) -> NodeStatus {
        NodeStatus {
            capacity: Some(self.capacity.clone()),
            allocatable: Some(self.capacity.clone()),
            conditions: Some(conditions),
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: self.address.to_string(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: self.name.clone(),
                },
            ]),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint {
                    port: i32::from(self.port),
                }),
            }),
            node_info: Some(NodeSystemInfo {
                architecture: self.arch.clone(),
                operating_system: self.os.clone(),
                os_image: "nodesim".into(),
                kernel_version: "nodesim".into(),
                kubelet_version: "v1.33.0-nodesim".into(),
                kube_proxy_version: String::new(),
                container_runtime_version: "nodesim://0.1.0".into(),
                machine_id: self.name.clone(),
                system_uuid: self.name.clone(),
                boot_id: self.name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The Node object to register.
    pub fn node(&self, conditions: Vec<NodeCondition>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(self.labels.clone()),
                annotations: Some(BTreeMap::from([(
                    "node.alpha.kubernetes.io/ttl".to_string(),
                    "0".to_string(),
                )])),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                pod_cidr: Some(self.pod_cidr.to_string()),
                pod_cidrs: Some(vec![self.pod_cidr.to_string()]),
                taints: Some(self.taints_for(&conditions)),
                ..Default::default()
            }),
            status: Some(self.status(conditions)),
        }
    }
}

fn api_err<'a>(what: &'static str, node: &'a str) -> impl FnOnce(kube::Error) -> NodeError + 'a {
    move |source| NodeError::Api {
        what,
        node: node.to_string(),
        source,
    }
}

/// Creates the lease namespace if it is missing (a real control plane creates it).
pub async fn ensure_lease_namespace(client: &Client) -> Result<(), NodeError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(LEASE_NAMESPACE.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(api_err("creating namespace for", LEASE_NAMESPACE)(e)),
    }
}

/// Registers (or re-registers) a node and publishes its status.
pub async fn register(
    client: &Client,
    setup: &NodeSetup,
    conditions: Vec<NodeCondition>,
) -> Result<Node, NodeError> {
    let api: Api<Node> = Api::all(client.clone());
    let node = setup.node(conditions);
    let created = match api.create(&PostParams::default(), &node).await {
        Ok(n) => n,
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let patch = serde_json::json!({
                "metadata": {"labels": node.metadata.labels},
                "spec": {"taints": node.spec.as_ref().and_then(|s| s.taints.clone()), "unschedulable": null},
            });
            api.patch(&setup.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(api_err("updating", &setup.name))?
        }
        Err(e) => return Err(api_err("registering", &setup.name)(e)),
    };
    let status = serde_json::json!({"status": node.status});
    api.patch_status(&setup.name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(api_err("updating status of", &setup.name))?;
    Ok(created)
}

/// Publishes a node status (and the not-ready taint when readiness changed).
pub async fn update_status(
    client: &Client,
    setup: &NodeSetup,
    conditions: Vec<NodeCondition>,
    taints_changed: bool,
) -> Result<(), NodeError> {
    let api: Api<Node> = Api::all(client.clone());
    if taints_changed {
        let patch = serde_json::json!({"spec": {"taints": setup.taints_for(&conditions)}});
        api.patch(&setup.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(api_err("updating taints of", &setup.name))?;
    }
    let status = serde_json::json!({"status": {"conditions": conditions}});
    api.patch_status(&setup.name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(api_err("updating status of", &setup.name))?;
    Ok(())
}

/// Creates or renews the node's Lease.
pub async fn renew_lease(
    client: &Client,
    node: &Node,
    hb: &HeartbeatConfig,
) -> Result<(), NodeError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let now = MicroTime(jiff::Timestamp::now());
    let duration = i32::try_from(hb.lease_duration.as_secs()).unwrap_or(40);
    let patch = serde_json::json!({"spec": {"renewTime": now, "holderIdentity": name, "leaseDurationSeconds": duration}});
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(LEASE_NAMESPACE.into()),
                    owner_references: node.metadata.uid.clone().map(|uid| {
                        vec![OwnerReference {
                            api_version: "v1".into(),
                            kind: "Node".into(),
                            name: name.clone(),
                            uid,
                            ..Default::default()
                        }]
                    }),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(name.clone()),
                    lease_duration_seconds: Some(duration),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
                Err(e) => Err(api_err("creating lease of", &name)(e)),
            }
        }
        Err(e) => Err(api_err("renewing lease of", &name)(e)),
    }
}

fn ready_of(conditions: &[NodeCondition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Runs one node: registers it, then renews its lease and reports status until cancelled.
pub async fn run_node(
    client: Client,
    provider: Arc<dyn PodProvider>,
    setup: NodeSetup,
    hb: HeartbeatConfig,
    metrics: crate::metrics::Metrics,
    cancel: tokio_util::sync::CancellationToken,
    registered: tokio::sync::mpsc::Sender<String>,
) {
    let node = loop {
        let conditions = provider.node_conditions(&setup.name);
        match register(&client, &setup, conditions).await {
            Ok(n) => break n,
            Err(e) => {
                tracing::warn!(error = %e, "node registration failed; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
            }
        }
    };
    if let Err(e) = renew_lease(&client, &node, &hb).await {
        tracing::warn!(error = %e, "lease creation failed");
    } else {
        metrics.lease_renewals.inc();
    }
    metrics.nodes.inc();
    let _ = registered.send(setup.name.clone()).await;
    let mut renew = tokio::time::interval(hb.renew_interval);
    let mut status = tokio::time::interval(hb.status_interval);
    // Conditions are polled more often than they are published, to publish changes at once.
    let mut poll = tokio::time::interval(hb.renew_interval.min(std::time::Duration::from_secs(1)));
    renew.tick().await;
    status.tick().await;
    let mut last_ready = ready_of(&provider.node_conditions(&setup.name));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = renew.tick() => {
                match renew_lease(&client, &node, &hb).await {
                    Ok(()) => metrics.lease_renewals.inc(),
                    Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
                }
            }
            _ = status.tick() => {
                let conditions = provider.node_conditions(&setup.name);
                let ready = ready_of(&conditions);
                if update_status(&client, &setup, conditions, ready != last_ready).await.is_ok() {
                    metrics.node_status_updates.inc();
                    last_ready = ready;
                }
            }
            _ = poll.tick() => {
                let conditions = provider.node_conditions(&setup.name);
                let ready = ready_of(&conditions);
                if ready != last_ready {
                    match update_status(&client, &setup, conditions, true).await {
                        Ok(()) => {
                            metrics.node_status_updates.inc();
                            last_ready = ready;
                        }
                        Err(e) => tracing::warn!(error = %e, "node status update failed"),
                    }
                }
            }
        }
    }
    metrics.nodes.dec();
}

/// Removes a node from the API (the "node disappears" failure): its Lease and the Node.
pub async fn delete_node(client: &Client, name: &str) -> Result<(), NodeError> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let _ = leases.delete(name, &Default::default()).await;
    let nodes: Api<Node> = Api::all(client.clone());
    match nodes.delete(name, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(api_err("deleting", name)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_expand_into_labelled_nodes_with_cidrs() {
        let pools = vec![
            PoolConfig {
                name: "gpu".into(),
                count: 2,
                gpu: 4,
                node_class: Some("3f1a...".into()),
                flavor: Some("g.large".into()),
                provider_taint: true,
                ..Default::default()
            },
            PoolConfig {
                name: "cpu".into(),
                count: 1,
                ..Default::default()
            },
        ];
        let nodes = plan_nodes(
            &pools,
            "nodesim",
            "127.0.0.1".parse().unwrap(),
            10250,
            "10.64.0.0/16".parse().unwrap(),
            "linux",
        )
        .unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[1].name, "gpu-1");
        assert_eq!(nodes[1].pod_cidr.to_string(), "10.64.1.0/24");
        assert_eq!(nodes[0].capacity["nvidia.com/gpu"].0, "4");
        assert_eq!(nodes[0].labels[LABEL_NODE_CLASS], "3f1a...");
        assert_eq!(nodes[0].labels["kubernetes.io/hostname"], "gpu-0");
        assert_eq!(nodes[0].taints[0].key, TAINT_PROVIDER);
        assert!(!nodes[2].capacity.contains_key("nvidia.com/gpu"));
        let n = nodes[2].node(vec![]);
        // No Ready=True condition: the not-ready taint is applied.
        assert!(
            n.spec
                .unwrap()
                .taints
                .unwrap()
                .iter()
                .any(|t| t.key == TAINT_NOT_READY)
        );
        let st = nodes[2].status(vec![]);
        assert_eq!(
            st.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port,
            10250
        );
        let err = plan_nodes(
            &pools,
            "x",
            "127.0.0.1".parse().unwrap(),
            1,
            "10.0.0.0/23".parse().unwrap(),
            "linux",
        )
        .unwrap_err();
        assert!(err.to_string().contains("no /24 left"));
    }
}
