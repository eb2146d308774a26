//! `MockProvider`: pods that go Pending → Running with an IP from the node's pod CIDR, report
//! statuses as a kubelet does, log deterministic lines, run a built-in command set and answer
//! port-forwards, plus failure injection for reliability tests.
//!
//! Per-pod failure injection through annotations:
//! - `nodesim.virtualcluster.io/start-delay: 3s` overrides the provider's start delay;
//! - `nodesim.virtualcluster.io/fail-after: 5s` makes the containers exit after that long
//!   with `nodesim.virtualcluster.io/exit-code` (default 1), then the restart policy applies;
//! - `nodesim.virtualcluster.io/complete-after: 2s` makes them exit with 0.
//!
//! Node failures through [`MockProvider::set_node_ready`] (condition Ready=False) and by
//! removing the node (see the node controller).
//!
//! This file holds the pod lifecycle; `streaming` what containers stream (logs, exec, attach,
//! port-forward) and `timing` the annotations and run-to-completion judgement.

pub mod logs;
pub mod ports;
pub mod shell;
pub mod status;
mod streaming;
mod timing;
pub mod volumes;

pub use timing::parse_duration;
use timing::{annotation, command_exit};

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{NodeCondition, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::io::DuplexStream;

use self::status::{Phase, SimState, pod_status};
use super::{LogOptions, LogStream, NodeInfo, PodNotifier, PodProvider, ProviderError};
use crate::stream::{ExecIo, ExecOutcome};

/// Annotation prefix for failure injection.
pub const ANNOTATION_PREFIX: &str = "nodesim.virtualcluster.io/";
/// Per-pod start delay override.
pub const ANNOTATION_START_DELAY: &str = "nodesim.virtualcluster.io/start-delay";
/// Containers exit after this long with the exit code below.
pub const ANNOTATION_FAIL_AFTER: &str = "nodesim.virtualcluster.io/fail-after";
/// Exit code used with `fail-after` (default 1).
pub const ANNOTATION_EXIT_CODE: &str = "nodesim.virtualcluster.io/exit-code";
/// Containers exit with 0 after this long.
pub const ANNOTATION_COMPLETE_AFTER: &str = "nodesim.virtualcluster.io/complete-after";

/// Settings of the mock provider.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Provider name (for the `virtual-kubelet.io/provider` taint).
    pub name: String,
    /// Time from Pending to Running; zero makes pods Running at once (as the VirtualCluster
    /// paper's mock kubelets do).
    pub start_delay: Duration,
    /// Time between two log lines of a container.
    pub log_interval: Duration,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            name: "nodesim".into(),
            start_delay: Duration::ZERO,
            log_interval: Duration::from_secs(1),
        }
    }
}

struct NodeState {
    info: NodeInfo,
    next_ip: u32,
    free: Vec<IpAddr>,
    ready: bool,
}

struct MockPod {
    pod: Pod,
    sim: SimState,
    generation: u64,
}

#[derive(Default)]
struct State {
    nodes: HashMap<String, NodeState>,
    pods: HashMap<(String, String), MockPod>,
    generation: u64,
}

/// The mock provider (cheap to clone; clones share state).
#[derive(Clone)]
pub struct MockProvider {
    cfg: Arc<MockConfig>,
    client: Option<kube::Client>,
    state: Arc<Mutex<State>>,
    notifier: Arc<Mutex<Option<PodNotifier>>>,
}

fn key(pod: &Pod) -> (String, String) {
    (
        pod.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

impl MockProvider {
    /// A provider; with a client, exec can read the pod's ConfigMaps and Secrets.
    pub fn new(cfg: MockConfig, client: Option<kube::Client>) -> Self {
        Self {
            cfg: Arc::new(cfg),
            client,
            state: Arc::default(),
            notifier: Arc::default(),
        }
    }

    /// Failure injection: flips the node's Ready condition.
    pub fn set_node_ready(&self, node: &str, ready: bool) {
        if let Ok(mut st) = self.state.lock()
            && let Some(n) = st.nodes.get_mut(node)
        {
            n.ready = ready;
        }
    }

    /// Failure injection: the pod's containers exit now with `exit_code`.
    pub fn fail_pod(&self, namespace: &str, name: &str, exit_code: i32) {
        self.terminate(&(namespace.to_string(), name.to_string()), None, exit_code);
    }

    fn notify(&self, pod: Pod) {
        if let Ok(n) = self.notifier.lock()
            && let Some(tx) = n.as_ref()
        {
            let _ = tx.send(pod);
        }
    }

    fn snapshot(mp: &MockPod) -> Pod {
        let mut pod = mp.pod.clone();
        pod.status = Some(pod_status(&mp.pod, &mp.sim));
        pod
    }

    fn allocate_ip(node: &mut NodeState) -> Option<IpAddr> {
        if let Some(ip) = node.free.pop() {
            return Some(ip);
        }
        match node.info.pod_cidr {
            ipnet::IpNet::V4(net) => {
                let base = u32::from(net.network());
                let size = 1u64 << (32 - u32::from(net.prefix_len()));
                // .0 is the network, .1 the node's bridge, the last the broadcast.
                let offset = u64::from(node.next_ip) + 2;
                if offset >= size.saturating_sub(1) {
                    return None;
                }
                node.next_ip += 1;
                Some(IpAddr::V4(std::net::Ipv4Addr::from(base + offset as u32)))
            }
            ipnet::IpNet::V6(net) => {
                let base = u128::from(net.network());
                let offset = u128::from(node.next_ip) + 2;
                node.next_ip += 1;
                Some(IpAddr::V6(std::net::Ipv6Addr::from(base + offset)))
            }
        }
    }

    /// Moves a pod to Running (first start or restart).
    fn start(&self, k: &(String, String), generation: u64) {
        let snapshot = {
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            let Some(mp) = st.pods.get_mut(k) else { return };
            if mp.generation != generation {
                return;
            }
            mp.sim.phase = Phase::Running;
            mp.sim.started = Some(jiff::Timestamp::now());
            mp.sim.finished = None;
            Self::snapshot(mp)
        };
        self.schedule_exit(k, generation, &snapshot);
        self.notify(snapshot);
    }

    fn schedule_exit(&self, k: &(String, String), generation: u64, pod: &Pod) {
        let exit = if let Some(d) = annotation(pod, ANNOTATION_FAIL_AFTER).and_then(parse_duration)
        {
            let code = annotation(pod, ANNOTATION_EXIT_CODE)
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            Some((d, code))
        } else {
            annotation(pod, ANNOTATION_COMPLETE_AFTER)
                .and_then(parse_duration)
                .map(|d| (d, 0))
                .or_else(|| command_exit(pod))
        };
        if let Some((after, code)) = exit {
            let this = self.clone();
            let k = k.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                this.terminate(&k, Some(generation), code);
            });
        }
    }

    /// Containers exit with `code`; the restart policy decides what follows.
    fn terminate(&self, k: &(String, String), generation: Option<u64>, code: i32) {
        let (snapshot, restart) = {
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            st.generation += 1;
            let next_gen = st.generation;
            let Some(mp) = st.pods.get_mut(k) else { return };
            if generation.is_some_and(|g| g != mp.generation) || mp.sim.phase != Phase::Running {
                return;
            }
            let now = jiff::Timestamp::now();
            let policy = mp
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.restart_policy.clone())
                .unwrap_or_else(|| "Always".into());
            let restart = policy == "Always" || (policy == "OnFailure" && code != 0);
            if restart {
                let started = mp.sim.started.unwrap_or(now);
                mp.sim.last_exit = Some((code, started, now));
                mp.sim.restart_count += 1;
                mp.sim.phase = Phase::Pending;
                mp.generation = next_gen;
            } else {
                mp.sim.phase = Phase::Terminated {
                    exit_code: code,
                    reason: if code == 0 { "Completed" } else { "Error" }.into(),
                };
                mp.sim.finished = Some(now);
            }
            (Self::snapshot(mp), restart.then_some(next_gen))
        };
        if let Some(generation) = restart {
            // Restart right away: the simulation has no image to pull.
            self.start(k, generation);
        } else {
            self.notify(snapshot);
        }
    }

    fn running_pod(&self, namespace: &str, name: &str) -> Result<(Pod, SimState), ProviderError> {
        let st = self
            .state
            .lock()
            .map_err(|_| ProviderError::Internal("provider state poisoned".into()))?;
        let mp = st
            .pods
            .get(&(namespace.to_string(), name.to_string()))
            .ok_or_else(|| ProviderError::PodNotFound(name.to_string()))?;
        Ok((Self::snapshot(mp), mp.sim.clone()))
    }

    fn container_of(
        pod: &Pod,
        container: &str,
    ) -> Result<k8s_openapi::api::core::v1::Container, ProviderError> {
        pod.spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.name == container).cloned())
            .ok_or_else(|| ProviderError::ContainerNotFound(container.to_string()))
    }

    fn is_alive(&self, k: &(String, String), generation: u64) -> bool {
        self.state.lock().is_ok_and(|st| {
            st.pods
                .get(k)
                .is_some_and(|mp| mp.generation == generation && mp.sim.phase == Phase::Running)
        })
    }

    fn generation_of(&self, k: &(String, String)) -> Option<u64> {
        self.state.lock().ok()?.pods.get(k).map(|mp| mp.generation)
    }
}

#[async_trait]
impl PodProvider for MockProvider {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn add_node(&self, node: NodeInfo) -> Result<(), ProviderError> {
        if let Ok(mut st) = self.state.lock() {
            let name = node.name.clone();
            st.nodes.entry(name).or_insert(NodeState {
                info: node,
                next_ip: 0,
                free: Vec::new(),
                ready: true,
            });
        }
        Ok(())
    }

    async fn remove_node(&self, node: &str) -> Result<(), ProviderError> {
        if let Ok(mut st) = self.state.lock() {
            st.nodes.remove(node);
            st.pods.retain(|_, mp| {
                mp.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node)
            });
        }
        Ok(())
    }

    fn notify_pods(&self, notifier: PodNotifier) {
        if let Ok(mut n) = self.notifier.lock() {
            *n = Some(notifier);
        }
    }

    async fn create_pod(&self, pod: &Pod) -> Result<(), ProviderError> {
        let k = key(pod);
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .ok_or_else(|| ProviderError::BadRequest("pod is not bound to a node".into()))?;
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let delay = annotation(pod, ANNOTATION_START_DELAY)
            .and_then(parse_duration)
            .unwrap_or(self.cfg.start_delay);
        let (generation, pending) = {
            let mut st = self
                .state
                .lock()
                .map_err(|_| ProviderError::Internal("provider state poisoned".into()))?;
            if let Some(existing) = st.pods.get(&k)
                && existing.pod.metadata.uid == pod.metadata.uid
            {
                return Ok(());
            }
            st.generation += 1;
            let generation = st.generation;
            let node = st.nodes.get_mut(&node_name).ok_or_else(|| {
                ProviderError::BadRequest(format!(
                    "node {node_name} is not served by this provider"
                ))
            })?;
            let host_ip = node.info.address;
            let pod_ip = if host_network {
                Some(host_ip)
            } else {
                Self::allocate_ip(node)
            };
            let Some(pod_ip) = pod_ip else {
                return Err(ProviderError::Internal(format!(
                    "pod CIDR {} of node {node_name} is exhausted",
                    node.info.pod_cidr
                )));
            };
            let sim = SimState {
                phase: Phase::Pending,
                pod_ip: Some(pod_ip.to_string()),
                host_ip: host_ip.to_string(),
                accepted: jiff::Timestamp::now(),
                started: None,
                finished: None,
                restart_count: 0,
                last_exit: None,
            };
            let mp = MockPod {
                pod: pod.clone(),
                sim,
                generation,
            };
            let pending = Self::snapshot(&mp);
            st.pods.insert(k.clone(), mp);
            (generation, pending)
        };
        if delay.is_zero() {
            self.start(&k, generation);
        } else {
            self.notify(pending);
            let this = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                this.start(&k, generation);
            });
        }
        Ok(())
    }

    async fn update_pod(&self, pod: &Pod) -> Result<(), ProviderError> {
        if let Ok(mut st) = self.state.lock()
            && let Some(mp) = st.pods.get_mut(&key(pod))
        {
            mp.pod.metadata = pod.metadata.clone();
        }
        Ok(())
    }

    async fn delete_pod(&self, pod: &Pod) -> Result<(), ProviderError> {
        let k = key(pod);
        if let Ok(mut st) = self.state.lock()
            && let Some(mp) = st.pods.remove(&k)
        {
            let node = mp.pod.spec.as_ref().and_then(|s| s.node_name.clone());
            let host_network = mp
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.host_network)
                .unwrap_or(false);
            if !host_network
                && let (Some(node), Some(ip)) = (node, mp.sim.pod_ip.as_ref())
                && let Some(n) = st.nodes.get_mut(&node)
                && let Ok(ip) = ip.parse()
            {
                n.free.push(ip);
            }
        }
        Ok(())
    }

    async fn get_pod(&self, namespace: &str, name: &str) -> Result<Option<Pod>, ProviderError> {
        Ok(self.state.lock().ok().and_then(|st| {
            st.pods
                .get(&(namespace.to_string(), name.to_string()))
                .map(Self::snapshot)
        }))
    }

    async fn get_pod_status(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<PodStatus>, ProviderError> {
        Ok(self.get_pod(namespace, name).await?.and_then(|p| p.status))
    }

    async fn get_pods(&self, node: &str) -> Result<Vec<Pod>, ProviderError> {
        Ok(self
            .state
            .lock()
            .map(|st| {
                st.pods
                    .values()
                    .filter(|mp| {
                        mp.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
                    })
                    .map(Self::snapshot)
                    .collect()
            })
            .unwrap_or_default())
    }

    fn capacity(&self, node: &str) -> BTreeMap<String, Quantity> {
        self.state
            .lock()
            .ok()
            .and_then(|st| st.nodes.get(node).map(|n| n.info.capacity.clone()))
            .unwrap_or_default()
    }

    fn node_conditions(&self, node: &str) -> Vec<NodeCondition> {
        let ready = self
            .state
            .lock()
            .ok()
            .and_then(|st| st.nodes.get(node).map(|n| n.ready))
            .unwrap_or(false);
        let now = Some(Time(jiff::Timestamp::now()));
        let cond = |kind: &str, status: &str, reason: &str, message: &str| NodeCondition {
            type_: kind.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_heartbeat_time: now.clone(),
            last_transition_time: None,
        };
        vec![
            if ready {
                cond(
                    "Ready",
                    "True",
                    "KubeletReady",
                    "kubelet is posting ready status",
                )
            } else {
                cond(
                    "Ready",
                    "False",
                    "KubeletNotReady",
                    "container runtime is down (injected by nodesim)",
                )
            },
            cond(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            cond(
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            ),
            cond(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
        ]
    }

    fn operating_system(&self) -> String {
        "linux".into()
    }

    async fn container_logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        opts: LogOptions,
    ) -> Result<LogStream, ProviderError> {
        self.stream_logs(namespace, pod, container, opts).await
    }

    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: Vec<String>,
        io: ExecIo,
    ) -> Result<ExecOutcome, ProviderError> {
        self.run_command(namespace, pod, container, command, io)
            .await
    }

    async fn attach(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        io: ExecIo,
    ) -> Result<ExecOutcome, ProviderError> {
        self.attach_io(namespace, pod, container, io).await
    }

    async fn port_forward(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
        stream: DuplexStream,
    ) -> Result<(), ProviderError> {
        self.forward_port(namespace, pod, port, stream).await
    }
}

#[cfg(test)]
mod tests;
