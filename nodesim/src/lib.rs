//! nodesim: simulated super-cluster nodes for the embedded API server, in the spirit of Virtual
//! Kubelet and kwok: Node objects that heartbeat, a scheduler that binds pods, and kubelets that
//! run pods through a pluggable [`provider::PodProvider`] and serve the kubelet HTTPS API.
//!
//! It is an ordinary Kubernetes client: one pod watch and one node watch serve every simulated
//! node, status writes are coalesced per pod, and one HTTPS listener serves the kubelet API of
//! all nodes.

pub mod config;
pub mod events;
pub mod kubelet;
pub mod metrics;
pub mod nodes;
pub mod pods;
pub mod provider;
pub mod scheduler;
pub mod spdy;
pub mod stream;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use config::{HeartbeatConfig, KubeletConfig, NodesimConfig, PoolConfig};
pub use provider::mock::{MockConfig, MockProvider};
pub use provider::{PodProvider, ProviderError};

use nodes::NodeSetup;
use pods::{PodController, StatusWriter};

/// Errors starting or running nodesim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API client could not be built.
    #[error("kubernetes client: {0}")]
    Client(#[from] kube::Error),
    /// The kubelet listener could not be bound.
    #[error("binding the kubelet endpoint {addr}: {source}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] kubelet::tls::TlsError),
    /// Node configuration or registration failed.
    #[error(transparent)]
    Node(#[from] nodes::NodeError),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A provider call failed.
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    /// Nodes did not register in time.
    #[error("{registered}/{wanted} nodes registered before the timeout")]
    NotReady {
        /// Registered so far.
        registered: usize,
        /// Configured.
        wanted: usize,
    },
}

/// A running nodesim instance.
pub struct NodesimHandle {
    kubelet_addr: SocketAddr,
    kubelet_ca_pem: String,
    client: Client,
    provider: Arc<dyn PodProvider>,
    mock: Option<MockProvider>,
    nodes: Arc<Mutex<Vec<NodeSetup>>>,
    node_names: Arc<Mutex<HashSet<String>>>,
    node_tokens: Arc<Mutex<HashMap<String, CancellationToken>>>,
    controller: Arc<PodController>,
    known_pods: Arc<Mutex<HashMap<(String, String), Pod>>>,
    registered: tokio::sync::Mutex<mpsc::Receiver<String>>,
    registered_count: Mutex<usize>,
    metrics: metrics::Metrics,
    cancel: CancellationToken,
}

impl NodesimHandle {
    /// Where the kubelet API listens.
    pub fn kubelet_addr(&self) -> SocketAddr {
        self.kubelet_addr
    }

    /// The CA of the kubelet serving certificate (for `--kubelet-certificate-authority`).
    pub fn kubelet_ca_pem(&self) -> &str {
        &self.kubelet_ca_pem
    }

    /// Names of the simulated nodes.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes
            .lock()
            .map(|n| n.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default()
    }

    /// The provider.
    pub fn provider(&self) -> Arc<dyn PodProvider> {
        self.provider.clone()
    }

    /// The mock provider, for failure injection (None with a custom provider).
    pub fn mock(&self) -> Option<&MockProvider> {
        self.mock.as_ref()
    }

    /// Metrics in the Prometheus text format.
    pub fn metrics(&self) -> String {
        self.metrics.render()
    }

    /// The metrics registry (to serve on an operations endpoint).
    pub fn metrics_registry(&self) -> prometheus::Registry {
        self.metrics.registry.clone()
    }

    /// Waits until every node has registered and published its lease.
    pub async fn wait_ready(&self, timeout: std::time::Duration) -> Result<(), Error> {
        let wanted = self.nodes.lock().map(|n| n.len()).unwrap_or(0);
        let mut rx = self.registered.lock().await;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let have = self.registered_count.lock().map(|c| *c).unwrap_or(0);
            if have >= wanted {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(_)) => {
                    if let Ok(mut c) = self.registered_count.lock() {
                        *c += 1;
                    }
                }
                _ => {
                    return Err(Error::NotReady {
                        registered: have,
                        wanted,
                    });
                }
            }
        }
    }

    /// Failure injection: the node disappears (heartbeats stop, Node and Lease are deleted,
    /// its pods are marked Failed).
    pub async fn remove_node(&self, name: &str) -> Result<(), Error> {
        if let Some(t) = self
            .node_tokens
            .lock()
            .ok()
            .and_then(|mut m| m.remove(name))
        {
            t.cancel();
        }
        nodes::delete_node(&self.client, name).await?;
        node_gone(
            name,
            &self.node_names,
            &self.nodes,
            &self.provider,
            &self.controller,
            &self.known_pods,
        )
        .await;
        Ok(())
    }

    /// Stops everything (nodes stay registered, as when a kubelet stops).
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// Resolves when the instance is shut down.
    pub async fn stopped(&self) {
        self.cancel.cancelled().await;
    }
}

async fn node_gone(
    name: &str,
    node_names: &Mutex<HashSet<String>>,
    nodes: &Mutex<Vec<NodeSetup>>,
    provider: &Arc<dyn PodProvider>,
    controller: &Arc<PodController>,
    known_pods: &Mutex<HashMap<(String, String), Pod>>,
) {
    let was_ours = node_names.lock().is_ok_and(|mut n| n.remove(name));
    if !was_ours {
        return;
    }
    if let Ok(mut n) = nodes.lock() {
        n.retain(|s| s.name != name);
    }
    let pods: Vec<Pod> = known_pods
        .lock()
        .map(|k| k.values().cloned().collect())
        .unwrap_or_default();
    controller.node_gone(name, pods).await;
    let _ = provider.remove_node(name).await;
}

fn advertise(cfg: &KubeletConfig, bound: SocketAddr) -> IpAddr {
    cfg.advertise.unwrap_or_else(|| {
        if bound.ip().is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            bound.ip()
        }
    })
}

/// Starts nodesim with the mock provider and returns a handle (for embedding).
pub async fn start(config: NodesimConfig) -> Result<NodesimHandle, Error> {
    let client = Client::try_from(config.kube.clone())?;
    let mock = MockProvider::new(config.mock.clone(), Some(client.clone()));
    let mut handle = start_with_provider(config, Arc::new(mock.clone())).await?;
    handle.mock = Some(mock);
    Ok(handle)
}

/// Runs nodesim with the mock provider until Ctrl-C or SIGTERM.
pub async fn run(config: NodesimConfig) -> Result<(), Error> {
    let handle = start(config).await?;
    tokio::select! {
        // An error means no signal can arrive; stopping is what a signal would have done.
        _ = common::process::shutdown_signal() => {}
        _ = handle.stopped() => {}
    }
    handle.shutdown();
    Ok(())
}

/// Starts nodesim with any provider.
pub async fn start_with_provider(
    config: NodesimConfig,
    provider: Arc<dyn PodProvider>,
) -> Result<NodesimHandle, Error> {
    let client = Client::try_from(config.kube.clone())?;
    let metrics = metrics::Metrics::new()?;
    let cancel = CancellationToken::new();

    let listener = tokio::net::TcpListener::bind(config.kubelet.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.kubelet.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| Error::Listen {
        addr: config.kubelet.listen,
        source,
    })?;
    let address = advertise(&config.kubelet, bound);
    let serving = match &config.kubelet.serving {
        Some((cert, key)) => kubelet::tls::Serving {
            cert_pem: cert.clone(),
            key_pem: key.clone(),
            ca_pem: cert.clone(),
        },
        None => kubelet::tls::generate_serving(&[address, IpAddr::from([127, 0, 0, 1])])?,
    };
    let tls = kubelet::tls::server_config(&serving, &config.kubelet.client_ca_pem)?;

    let setups = nodes::plan_nodes(
        &config.pools,
        provider.name(),
        address,
        bound.port(),
        config.pod_cidr,
        &provider.operating_system(),
    )?;
    for s in &setups {
        provider.add_node(s.info()).await?;
    }
    let node_names: Arc<Mutex<HashSet<String>>> =
        Arc::new(Mutex::new(setups.iter().map(|s| s.name.clone()).collect()));
    let defaults: HashMap<String, scheduler::decide::Resources> = setups
        .iter()
        .map(|s| (s.name.clone(), s.default_requests.clone()))
        .collect();
    let nodes = Arc::new(Mutex::new(setups.clone()));

    let ctx = Arc::new(kubelet::KubeletCtx {
        provider: provider.clone(),
        nodes: nodes.clone(),
        metrics: metrics.clone(),
    });
    tokio::spawn(kubelet::serve(listener, tls, ctx, cancel.clone()));

    let writer = StatusWriter::start(
        client.clone(),
        config.status_workers,
        metrics.clone(),
        cancel.clone(),
    );
    let recorder = events::Recorder::new(client.clone(), config.events);
    let controller = PodController::new(
        client.clone(),
        provider.clone(),
        writer,
        node_names.clone(),
        recorder.clone(),
    );
    let (status_tx, mut status_rx) = mpsc::unbounded_channel();
    provider.notify_pods(status_tx);
    {
        let controller = controller.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    pod = status_rx.recv() => match pod {
                        Some(p) => controller.status(p),
                        None => break,
                    },
                }
            }
        });
    }

    let (sched_tx, sched_rx) = mpsc::unbounded_channel();
    if let Some(name) = config.scheduler_name.clone() {
        tokio::spawn(scheduler::Scheduler::run(
            name,
            client.clone(),
            defaults,
            config.bind_workers,
            metrics.clone(),
            sched_tx.clone(),
            sched_rx,
            recorder,
            cancel.clone(),
        ));
    }
    let scheduler_on = config.scheduler_name.is_some();

    if let Err(e) = nodes::ensure_lease_namespace(&client).await {
        tracing::warn!(error = %e, "could not ensure the lease namespace");
    }
    let (reg_tx, reg_rx) = mpsc::channel(setups.len().max(1));
    let node_tokens: Arc<Mutex<HashMap<String, CancellationToken>>> = Arc::default();
    for setup in setups {
        let token = cancel.child_token();
        if let Ok(mut t) = node_tokens.lock() {
            t.insert(setup.name.clone(), token.clone());
        }
        tokio::spawn(nodes::run_node(
            client.clone(),
            provider.clone(),
            setup,
            config.heartbeat,
            metrics.clone(),
            token,
            reg_tx.clone(),
        ));
    }

    let known_pods: Arc<Mutex<HashMap<(String, String), Pod>>> = Arc::default();
    tokio::spawn(watch_pods(
        client.clone(),
        controller.clone(),
        scheduler_on.then(|| sched_tx.clone()),
        known_pods.clone(),
        cancel.clone(),
    ));
    tokio::spawn(watch_nodes(
        client.clone(),
        scheduler_on.then(|| sched_tx.clone()),
        NodeGone {
            node_names: node_names.clone(),
            nodes: nodes.clone(),
            provider: provider.clone(),
            controller: controller.clone(),
            known_pods: known_pods.clone(),
            tokens: node_tokens.clone(),
        },
        cancel.clone(),
    ));

    Ok(NodesimHandle {
        kubelet_addr: SocketAddr::new(address, bound.port()),
        kubelet_ca_pem: serving.ca_pem,
        client,
        provider,
        mock: None,
        nodes,
        node_names,
        node_tokens,
        controller,
        known_pods,
        registered: tokio::sync::Mutex::new(reg_rx),
        registered_count: Mutex::new(0),
        metrics,
        cancel,
    })
}

fn pod_key(p: &Pod) -> (String, String) {
    (
        p.metadata.namespace.clone().unwrap_or_default(),
        p.metadata.name.clone().unwrap_or_default(),
    )
}

/// The one pod watch: feeds the scheduler and the kubelets.
async fn watch_pods(
    client: Client,
    controller: Arc<PodController>,
    sched: Option<mpsc::UnboundedSender<scheduler::Event>>,
    known: Arc<Mutex<HashMap<(String, String), Pod>>>,
    cancel: CancellationToken,
) {
    let api: Api<Pod> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    let mut relist: HashSet<(String, String)> = HashSet::new();
    loop {
        let ev = tokio::select! {
            _ = cancel.cancelled() => return,
            ev = stream.next() => ev,
        };
        let Some(ev) = ev else { return };
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(error = %e, "pod watch error");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        match ev {
            watcher::Event::Init => relist.clear(),
            watcher::Event::InitApply(pod) | watcher::Event::Apply(pod) => {
                let k = pod_key(&pod);
                relist.insert(k.clone());
                if let Ok(mut m) = known.lock() {
                    m.insert(k, pod.clone());
                }
                if let Some(tx) = &sched {
                    let _ = tx.send(scheduler::Event::Pod(Box::new(pod.clone())));
                }
                controller.upsert(pod).await;
            }
            watcher::Event::Delete(pod) => {
                if let Ok(mut m) = known.lock() {
                    m.remove(&pod_key(&pod));
                }
                if let Some(tx) = &sched {
                    let _ = tx.send(scheduler::Event::PodDeleted(Box::new(pod.clone())));
                }
                controller.deleted(pod).await;
            }
            watcher::Event::InitDone => {
                // Pods deleted while the watch was down.
                let gone: Vec<Pod> = known
                    .lock()
                    .map(|mut m| {
                        let keys: Vec<_> =
                            m.keys().filter(|k| !relist.contains(*k)).cloned().collect();
                        keys.iter().filter_map(|k| m.remove(k)).collect()
                    })
                    .unwrap_or_default();
                for pod in gone {
                    if let Some(tx) = &sched {
                        let _ = tx.send(scheduler::Event::PodDeleted(Box::new(pod.clone())));
                    }
                    controller.deleted(pod).await;
                }
            }
        }
    }
}

struct NodeGone {
    node_names: Arc<Mutex<HashSet<String>>>,
    nodes: Arc<Mutex<Vec<NodeSetup>>>,
    provider: Arc<dyn PodProvider>,
    controller: Arc<PodController>,
    known_pods: Arc<Mutex<HashMap<(String, String), Pod>>>,
    tokens: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

/// The one node watch: feeds the scheduler and notices our nodes being deleted.
async fn watch_nodes(
    client: Client,
    sched: Option<mpsc::UnboundedSender<scheduler::Event>>,
    gone: NodeGone,
    cancel: CancellationToken,
) {
    let api: Api<Node> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    loop {
        let ev = tokio::select! {
            _ = cancel.cancelled() => return,
            ev = stream.next() => ev,
        };
        let Some(ev) = ev else { return };
        match ev {
            Ok(watcher::Event::InitApply(node) | watcher::Event::Apply(node)) => {
                if let Some(tx) = &sched {
                    let _ = tx.send(scheduler::Event::Node(Box::new(node)));
                }
            }
            Ok(watcher::Event::Delete(node)) => {
                let name = node.metadata.name.clone().unwrap_or_default();
                if let Some(tx) = &sched {
                    let _ = tx.send(scheduler::Event::NodeDeleted(name.clone()));
                }
                if let Some(t) = gone.tokens.lock().ok().and_then(|mut m| m.remove(&name)) {
                    t.cancel();
                }
                node_gone(
                    &name,
                    &gone.node_names,
                    &gone.nodes,
                    &gone.provider,
                    &gone.controller,
                    &gone.known_pods,
                )
                .await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "node watch error");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    }
}
