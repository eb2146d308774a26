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

/// `taints` with the not-ready taint added (not `ready`) or removed (`ready`); every other
/// taint, whoever set it, stays as it is.
pub fn with_readiness_taint(taints: &[Taint], ready: bool) -> Vec<Taint> {
    let is_not_ready = |t: &Taint| t.key == TAINT_NOT_READY && t.effect == "NoSchedule";
    let mut out: Vec<Taint> = taints
        .iter()
        .filter(|t| !is_not_ready(t))
        .cloned()
        .collect();
    if !ready {
        out.push(Taint {
            key: TAINT_NOT_READY.into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        });
    }
    out
}

/// The patch a re-registering kubelet sends for an existing node: its own labels set again
/// (other labels kept), taints as they are except for readiness, `unschedulable` untouched,
/// so that an admin's taints, labels and cordon survive a kubelet restart. `None` when
/// nothing changes.
pub fn reregistration_patch(
    existing: &Node,
    setup: &NodeSetup,
    ready: bool,
) -> Option<serde_json::Value> {
    let labels = existing.metadata.labels.clone().unwrap_or_default();
    let changed_labels: BTreeMap<&String, &String> = setup
        .kubelet_labels()
        .iter()
        .filter(|(k, v)| labels.get(*k) != Some(*v))
        .collect();
    let taints = existing
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let wanted = with_readiness_taint(&taints, ready);
    if changed_labels.is_empty() && wanted == taints {
        return None;
    }
    let mut patch = serde_json::json!({
        "metadata": {"resourceVersion": existing.metadata.resource_version},
    });
    if !changed_labels.is_empty() {
        patch["metadata"]["labels"] = serde_json::json!(changed_labels);
    }
    if wanted != taints {
        patch["spec"] = serde_json::json!({ "taints": wanted });
    }
    Some(patch)
}

/// Registers (or re-registers) a node and publishes its status.
pub async fn register(
    client: &Client,
    setup: &NodeSetup,
    conditions: Vec<NodeCondition>,
) -> Result<Node, NodeError> {
    let api: Api<Node> = Api::all(client.clone());
    let ready = ready_of(&conditions);
    let node = setup.node(conditions);
    let created = match api.create(&PostParams::default(), &node).await {
        Ok(n) => n,
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = api
                .get(&setup.name)
                .await
                .map_err(api_err("reading", &setup.name))?;
            match reregistration_patch(&existing, setup, ready) {
                // The resourceVersion in the patch makes a concurrent change a conflict, and
                // registration is retried.
                Some(patch) => api
                    .patch(&setup.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(api_err("updating", &setup.name))?,
                None => existing,
            }
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
        // Only the readiness taint is ours to change; the others stay (admins', controllers').
        let node = api
            .get(&setup.name)
            .await
            .map_err(api_err("reading", &setup.name))?;
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let wanted = with_readiness_taint(&taints, ready_of(&conditions));
        if wanted != taints {
            let patch = serde_json::json!({
                "metadata": {"resourceVersion": node.metadata.resource_version},
                "spec": {"taints": wanted},
            });
            api.patch(&setup.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(api_err("updating taints of", &setup.name))?;
        }
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

    fn setup(address: &str) -> NodeSetup {
        plan_nodes(
            &[PoolConfig {
                name: "p".into(),
                count: 1,
                ..Default::default()
            }],
            "nodesim",
            address.parse().unwrap(),
            10250,
            "10.64.0.0/16".parse().unwrap(),
            "linux",
        )
        .unwrap()
        .remove(0)
    }

    #[test]
    fn addresses_put_internal_ip_first_and_a_resolvable_hostname_after() {
        for (ip, host) in [("127.0.0.1", "localhost"), ("10.1.2.3", "10.1.2.3")] {
            let st = setup(ip).status(vec![]);
            let addrs: Vec<(String, String)> = st
                .addresses
                .unwrap()
                .into_iter()
                .map(|a| (a.type_, a.address))
                .collect();
            assert_eq!(
                addrs,
                vec![
                    ("InternalIP".to_string(), ip.to_string()),
                    ("Hostname".to_string(), host.to_string())
                ]
            );
        }
    }

    fn taint(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            ..Default::default()
        }
    }

    #[test]
    fn readiness_changes_only_the_not_ready_taint() {
        let admin = taint("dedicated", "NoSchedule");
        let not_ready = taint(TAINT_NOT_READY, "NoSchedule");
        assert_eq!(
            with_readiness_taint(std::slice::from_ref(&admin), false),
            vec![admin.clone(), not_ready.clone()]
        );
        assert_eq!(
            with_readiness_taint(&[not_ready.clone(), admin.clone()], true),
            vec![admin.clone()]
        );
        // The lifecycle controller's NoExecute taint of the same key is not ours.
        let evict = taint(TAINT_NOT_READY, "NoExecute");
        assert_eq!(
            with_readiness_taint(std::slice::from_ref(&evict), true),
            vec![evict.clone()]
        );
    }

    #[test]
    fn reregistration_keeps_admin_taints_labels_and_cordon() {
        let s = setup("127.0.0.1");
        let mut existing = s.node(vec![]);
        existing.metadata.resource_version = Some("7".into());
        let labels = existing.metadata.labels.get_or_insert_default();
        labels.insert("team".into(), "a".into());
        labels.insert("kubernetes.io/hostname".into(), "changed".into());
        let spec = existing.spec.get_or_insert_default();
        spec.unschedulable = Some(true);
        spec.taints = Some(vec![taint("dedicated", "NoSchedule")]);
        let patch = reregistration_patch(&existing, &s, false).unwrap();
        // Only the kubelet's own label that changed is set again; nothing else is removed.
        assert_eq!(
            patch["metadata"]["labels"],
            serde_json::json!({"kubernetes.io/hostname": "p-0"})
        );
        assert_eq!(patch["metadata"]["resourceVersion"], "7");
        assert_eq!(
            patch["spec"]["taints"],
            serde_json::json!([
                {"key": "dedicated", "effect": "NoSchedule"},
                {"key": TAINT_NOT_READY, "effect": "NoSchedule"}
            ])
        );
        assert!(patch["spec"].get("unschedulable").is_none());
        // An up-to-date node needs no patch.
        let mut same = s.node(vec![]);
        same.metadata.resource_version = Some("8".into());
        assert!(reregistration_patch(&same, &s, false).is_none());
    }
}
