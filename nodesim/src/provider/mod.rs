//! The provider interface behind each simulated kubelet, modelled on Virtual Kubelet's:
//! pod lifecycle (create/update/delete/get/status/list), asynchronous status notification,
//! the node's capacity/conditions/OS, and the streaming calls (logs, exec, attach,
//! port-forward).

pub mod mock;

use std::collections::BTreeMap;
use std::net::IpAddr;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::{NodeCondition, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

use crate::stream::{ExecIo, ExecOutcome};

/// Errors a provider returns; the kubelet API maps them to HTTP statuses as the kubelet does.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The pod is not known to the provider.
    #[error("pod {0:?} does not exist")]
    PodNotFound(String),
    /// The container is not in the pod.
    #[error("container not found ({0:?})")]
    ContainerNotFound(String),
    /// The request is invalid (bad log options, no previous instance, ...).
    #[error("{0}")]
    BadRequest(String),
    /// The provider could not do it.
    #[error("{0}")]
    Internal(String),
}

/// What a provider knows about a node it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// The node's InternalIP (the pods' hostIP).
    pub address: IpAddr,
    /// Pod CIDR the node allocates pod IPs from.
    pub pod_cidr: ipnet::IpNet,
    /// Capacity as registered.
    pub capacity: BTreeMap<String, Quantity>,
}

/// Options of a container log request (the kubelet's `/containerLogs` query).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming new lines.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<i64>,
    /// Stop after this many bytes.
    pub limit_bytes: Option<i64>,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Only lines newer than this.
    pub since: Option<jiff::Timestamp>,
    /// The previous (terminated) instance of the container.
    pub previous: bool,
}

/// A stream of log bytes.
pub type LogStream = BoxStream<'static, Bytes>;

/// Receives pods whose status the provider changed (Virtual Kubelet's `NotifyPods`).
pub type PodNotifier = mpsc::UnboundedSender<Pod>;

/// A pod provider. One instance may serve many nodes; pods carry their node in
/// `spec.nodeName`.
#[async_trait]
pub trait PodProvider: Send + Sync + 'static {
    /// Provider name (used for the `virtual-kubelet.io/provider` taint).
    fn name(&self) -> &str;

    /// Starts serving a node.
    async fn add_node(&self, node: NodeInfo) -> Result<(), ProviderError>;

    /// Stops serving a node (its pods are forgotten).
    async fn remove_node(&self, node: &str) -> Result<(), ProviderError>;

    /// Registers the callback for asynchronous status changes.
    fn notify_pods(&self, notifier: PodNotifier);

    /// Runs a pod bound to one of the provider's nodes.
    async fn create_pod(&self, pod: &Pod) -> Result<(), ProviderError>;

    /// Applies a change to a running pod's spec or metadata.
    async fn update_pod(&self, pod: &Pod) -> Result<(), ProviderError>;

    /// Stops a pod (graceful deletion); its containers terminate.
    async fn delete_pod(&self, pod: &Pod) -> Result<(), ProviderError>;

    /// The pod as the provider runs it, if known.
    async fn get_pod(&self, namespace: &str, name: &str) -> Result<Option<Pod>, ProviderError>;

    /// The pod's current status, if known.
    async fn get_pod_status(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<PodStatus>, ProviderError>;

    /// All pods of a node.
    async fn get_pods(&self, node: &str) -> Result<Vec<Pod>, ProviderError>;

    /// Node capacity (allocatable is derived by the node controller).
    fn capacity(&self, node: &str) -> BTreeMap<String, Quantity>;

    /// Node conditions (Ready, MemoryPressure, DiskPressure, PIDPressure, ...).
    fn node_conditions(&self, node: &str) -> Vec<NodeCondition>;

    /// `linux` or `windows`.
    fn operating_system(&self) -> String;

    /// Container logs.
    async fn container_logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        opts: LogOptions,
    ) -> Result<LogStream, ProviderError>;

    /// Runs a command in a container.
    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: Vec<String>,
        io: ExecIo,
    ) -> Result<ExecOutcome, ProviderError>;

    /// Attaches to a container's main process.
    async fn attach(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        io: ExecIo,
    ) -> Result<ExecOutcome, ProviderError>;

    /// Connects one forwarded connection to a port of the pod.
    async fn port_forward(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
        stream: DuplexStream,
    ) -> Result<(), ProviderError>;
}
