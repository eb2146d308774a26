//! Configuration of a nodesim instance.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use k8s_openapi::api::core::v1::Taint;

use crate::provider::mock::MockConfig;

/// Label naming a node's class (the Unikorn model), mapped to a flavor.
pub const LABEL_NODE_CLASS: &str = "kubernetes.region.unikorn-cloud.org/node-class";
/// Taint key of Virtual Kubelet nodes.
pub const TAINT_PROVIDER: &str = "virtual-kubelet.io/provider";

/// A group of identical nodes.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Pool name; nodes are named `<pool>-<index>`.
    pub name: String,
    /// Number of nodes.
    pub count: usize,
    /// CPU capacity per node (quantity).
    pub cpu: String,
    /// Memory capacity per node (quantity).
    pub memory: String,
    /// Ephemeral storage per node (quantity).
    pub ephemeral_storage: String,
    /// Maximum pods per node.
    pub max_pods: u32,
    /// `nvidia.com/gpu` per node (0 = none).
    pub gpu: u32,
    /// Node class id (a UUID) for `kubernetes.region.unikorn-cloud.org/node-class`.
    pub node_class: Option<String>,
    /// Flavor name of the node class (also the `node.kubernetes.io/instance-type` label).
    pub flavor: Option<String>,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Extra taints.
    pub taints: Vec<Taint>,
    /// Add `virtual-kubelet.io/provider=<provider>:NoSchedule`, as virtual-kubelet nodes do.
    pub provider_taint: bool,
    /// Requests assumed for containers that request nothing (quantities by resource).
    pub default_requests: BTreeMap<String, String>,
    /// `kubernetes.io/arch`.
    pub arch: String,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            name: "nodesim".into(),
            count: 1,
            cpu: "8".into(),
            memory: "32Gi".into(),
            ephemeral_storage: "100Gi".into(),
            max_pods: 110,
            gpu: 0,
            node_class: None,
            flavor: None,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            provider_taint: false,
            default_requests: BTreeMap::new(),
            arch: "amd64".into(),
        }
    }
}

/// The kubelet HTTPS endpoint shared by all simulated nodes.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// Listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Address published as the nodes' InternalIP (default: the listen IP, or 127.0.0.1 when
    /// listening on an unspecified address).
    pub advertise: Option<IpAddr>,
    /// PEM CA that client certificates must chain to (the API server's kubelet client CA).
    pub client_ca_pem: String,
    /// Serving certificate and key (PEM); generated (self-signed CA) when absent.
    pub serving: Option<(String, String)>,
}

/// Heartbeat cadence (Virtual Kubelet's defaults).
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatConfig {
    /// `leaseDurationSeconds`.
    pub lease_duration: Duration,
    /// Lease renewal interval.
    pub renew_interval: Duration,
    /// Node status update interval (also sent at once when conditions change).
    pub status_interval: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(40),
            renew_interval: Duration::from_secs(10),
            status_interval: Duration::from_secs(60),
        }
    }
}

/// Everything a nodesim instance needs.
#[derive(Clone)]
pub struct NodesimConfig {
    /// How to reach the API server.
    pub kube: kube::Config,
    /// Node pools.
    pub pools: Vec<PoolConfig>,
    /// Kubelet endpoint.
    pub kubelet: KubeletConfig,
    /// Heartbeats.
    pub heartbeat: HeartbeatConfig,
    /// Scheduler name to serve (`default-scheduler`); `None` disables the scheduler.
    pub scheduler_name: Option<String>,
    /// Range the nodes' pod CIDRs (/24 each) are carved from.
    pub pod_cidr: ipnet::Ipv4Net,
    /// Mock provider settings.
    pub mock: MockConfig,
    /// Concurrent pod status writes.
    pub status_workers: usize,
    /// Concurrent binding requests.
    pub bind_workers: usize,
    /// Write the scheduler's and kubelet's Events (`Scheduled`, `Started`, ...).
    pub events: bool,
}

impl std::fmt::Debug for NodesimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodesimConfig")
            .field("cluster_url", &self.kube.cluster_url.to_string())
            .field("pools", &self.pools)
            .field("kubelet", &self.kubelet.listen)
            .field("heartbeat", &self.heartbeat)
            .field("scheduler_name", &self.scheduler_name)
            .finish_non_exhaustive()
    }
}

impl NodesimConfig {
    /// A configuration with one default pool of `nodes` nodes, the kubelet on
    /// `127.0.0.1:0`, and the default scheduler.
    pub fn new(kube: kube::Config, nodes: usize, client_ca_pem: impl Into<String>) -> Self {
        Self {
            kube,
            pools: vec![PoolConfig {
                count: nodes,
                ..Default::default()
            }],
            kubelet: KubeletConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                advertise: None,
                client_ca_pem: client_ca_pem.into(),
                serving: None,
            },
            heartbeat: HeartbeatConfig::default(),
            scheduler_name: Some("default-scheduler".into()),
            pod_cidr: "10.64.0.0/10"
                .parse()
                .unwrap_or_else(|_| ipnet::Ipv4Net::default()),
            mock: MockConfig::default(),
            status_workers: 64,
            bind_workers: 64,
            events: true,
        }
    }
}

/// A pool specification that cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid pool {spec:?}: {message}")]
pub struct PoolSpecError {
    /// The specification.
    pub spec: String,
    /// What is wrong.
    pub message: String,
}

impl PoolConfig {
    /// Parses `name=gpu,count=2,cpu=8,memory=32Gi,ephemeral-storage=100Gi,max-pods=110,gpu=4,
    /// node-class=<uuid>,flavor=g.large,taint=key=value:NoSchedule,provider-taint=true,
    /// default-cpu=100m,default-memory=128Mi,label=key=value,arch=arm64`.
    pub fn parse(spec: &str) -> Result<Self, PoolSpecError> {
        let err = |message: String| PoolSpecError {
            spec: spec.to_string(),
            message,
        };
        let mut pool = PoolConfig::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| err(format!("{part:?} is not key=value")))?;
            let quantity = |v: &str| -> Result<String, PoolSpecError> {
                crds::quantity::parse_milli(v).map_err(|e| err(e.to_string()))?;
                Ok(v.to_string())
            };
            match k {
                "name" => pool.name = v.to_string(),
                "count" | "nodes" => {
                    pool.count = v
                        .parse()
                        .map_err(|_| err(format!("count {v:?} is not a number")))?
                }
                "cpu" => pool.cpu = quantity(v)?,
                "memory" => pool.memory = quantity(v)?,
                "ephemeral-storage" | "disk" => pool.ephemeral_storage = quantity(v)?,
                "max-pods" => {
                    pool.max_pods = v
                        .parse()
                        .map_err(|_| err(format!("max-pods {v:?} is not a number")))?
                }
                "gpu" => {
                    pool.gpu = v
                        .parse()
                        .map_err(|_| err(format!("gpu {v:?} is not a number")))?
                }
                "node-class" => pool.node_class = Some(v.to_string()),
                "flavor" => pool.flavor = Some(v.to_string()),
                "arch" => pool.arch = v.to_string(),
                "provider-taint" => pool.provider_taint = v == "true",
                "default-cpu" => {
                    pool.default_requests.insert("cpu".into(), quantity(v)?);
                }
                "default-memory" => {
                    pool.default_requests.insert("memory".into(), quantity(v)?);
                }
                "label" => {
                    let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                    pool.labels.insert(lk.to_string(), lv.to_string());
                }
                "taint" => pool.taints.push(parse_taint(v).map_err(err)?),
                other => return Err(err(format!("unknown key {other:?}"))),
            }
        }
        Ok(pool)
    }
}

/// Parses `key[=value]:Effect`.
pub fn parse_taint(text: &str) -> Result<Taint, String> {
    let (kv, effect) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("taint {text:?} must be key[=value]:Effect"))?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(format!(
            "taint effect {effect:?} must be NoSchedule, PreferNoSchedule or NoExecute"
        ));
    }
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (kv, None),
    };
    if key.is_empty() {
        return Err(format!("taint {text:?} has an empty key"));
    }
    Ok(Taint {
        key: key.into(),
        value,
        effect: effect.into(),
        time_added: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_specs() {
        let p = PoolConfig::parse(
            "name=gpu,count=3,cpu=16,memory=64Gi,max-pods=20,gpu=2,node-class=6c1f0d2e-4b5a-4c3e-9d8f-1a2b3c4d5e6f,taint=dedicated=ml:NoSchedule,provider-taint=true,default-cpu=100m,label=tier=fast",
        )
        .unwrap();
        assert_eq!(
            (p.name.as_str(), p.count, p.max_pods, p.gpu),
            ("gpu", 3, 20, 2)
        );
        assert_eq!(p.taints[0].value.as_deref(), Some("ml"));
        assert_eq!(p.labels["tier"], "fast");
        assert!(p.provider_taint);
        assert!(PoolConfig::parse("cpu=lots").is_err());
        assert!(PoolConfig::parse("bogus=1").is_err());
        assert!(parse_taint("k:Sometimes").is_err());
    }
}
