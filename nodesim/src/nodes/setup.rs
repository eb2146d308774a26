//! The Node object planned from the pools: capacity, labels, taints, addresses, daemon
//! endpoint and node info of every simulated node.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::ObjectMeta;

use super::error::NodeError;
use super::readiness::{ready_of, with_readiness_taint};
use crate::config::{LABEL_NODE_CLASS, PoolConfig, TAINT_PROVIDER};
use crate::provider::NodeInfo;

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

    /// The taints a new node registers with (the pool's, like `--register-with-taints`, and
    /// the not-ready taint while the node is not Ready).
    fn taints_for(&self, conditions: &[NodeCondition]) -> Vec<Taint> {
        with_readiness_taint(&self.taints, ready_of(conditions))
    }

    /// The Hostname address: a name that resolves to the kubelet. Every simulated node shares
    /// one kubelet endpoint, so node names cannot be host names; like a kubelet run with
    /// `--hostname-override=<its IP>`, the address itself is published (`localhost` on
    /// loopback, which the kubelet serving certificate names too).
    pub fn hostname(&self) -> String {
        if self.address.is_loopback() {
            "localhost".into()
        } else {
            self.address.to_string()
        }
    }

    /// The labels a kubelet owns on its node (set at registration and re-registration).
    pub fn kubelet_labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The status a kubelet reports.
    pub fn status(&self, conditions: Vec<NodeCondition>) -> NodeStatus {
        NodeStatus {
            capacity: Some(self.capacity.clone()),
            allocatable: Some(self.capacity.clone()),
            conditions: Some(conditions),
            // InternalIP first; the Hostname resolves to the same kubelet, so an API server
            // reaches it with any `--kubelet-preferred-address-types` (upstream's default
            // prefers Hostname).
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: self.address.to_string(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: self.hostname(),
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
