//! vn-agent: the tenant-scoped kubelet API proxy.
//!
//! Tenant API servers reach their virtual nodes' kubelet port, which points at vn-agent on the
//! super node. vn-agent authenticates the tenant from its client certificate (CN = cluster key,
//! chain verified against that tenant's root CA), lets it reach only its own pods (namespace
//! translated with the tenancy contract, ownership read from the super pod's annotations), and
//! forwards to the kubelet with its own client certificate, streams and upgrades included.

pub mod authn;
pub mod config;
pub mod metrics;
pub mod pods;
pub mod refusal;
pub mod routes;
pub mod server;
pub mod super_cluster;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::kubelet_proxy::{KubeletProxy, ProxyError, Upstream};
use common::ops::{OpsHandle, Readiness, serve_ops};
use common::tls::{self, ClientAuth, ServerVerification, TlsError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use config::Config;
pub use super_cluster::{KubeSuper, MemorySuper, SuperCluster};

use authn::{CaCache, CacheTimings, RequireClientCert};
use server::{KubeletTarget, State};

/// Errors starting vn-agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A certificate or key could not be loaded or used.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The self-signed serving certificate could not be generated.
    #[error("cannot generate a serving certificate: {0}")]
    SelfSigned(#[from] common::pki::PkiError),
    /// `--kubelet-url` is not `https://host:port`.
    #[error("--kubelet-url: {0}")]
    KubeletUrl(#[from] ProxyError),
    /// The super cluster client could not be configured.
    #[error("super cluster client: {0}")]
    Kubeconfig(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The operations endpoint failed.
    #[error("operations endpoint: {0}")]
    Ops(#[from] common::ops::OpsError),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A running vn-agent.
#[derive(Debug)]
pub struct AgentHandle {
    addr: SocketAddr,
    ops: OpsHandle,
    registry: prometheus::Registry,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AgentHandle {
    /// The address of the kubelet API (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the operations endpoint.
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.local_addr()
    }

    /// The metrics registry (for embedding processes that serve metrics themselves).
    pub fn registry(&self) -> &prometheus::Registry {
        &self.registry
    }

    /// Stops accepting, drains open connections (at most a few seconds) and stops.
    pub async fn shutdown(self) -> Result<(), AgentError> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.ops.shutdown().await?;
        Ok(())
    }
}

/// Starts vn-agent with a super-cluster client built from the configuration.
pub async fn start(config: Config) -> Result<AgentHandle, AgentError> {
    let client = super_client(&config).await?;
    start_with(config, Arc::new(KubeSuper::new(client))).await
}

/// Starts vn-agent reading the super cluster through `super_cluster`.
pub async fn start_with(
    config: Config,
    super_cluster: Arc<dyn SuperCluster>,
) -> Result<AgentHandle, AgentError> {
    let acceptor = TlsAcceptor::from(Arc::new(serving_config(&config)?));
    let proxy = KubeletProxy::new(kubelet_client_config(&config)?);
    let target = if config.local_mode {
        KubeletTarget::PodNode
    } else {
        KubeletTarget::Fixed(Upstream::parse(&config.kubelet_url)?)
    };
    let registry = prometheus::Registry::new();
    let metrics = metrics::Metrics::new(&registry)?;
    let timings = CacheTimings {
        ttl: Duration::from_secs(config.ca_cache_ttl_seconds),
        ..CacheTimings::default()
    };
    let state = Arc::new(State {
        cas: CaCache::new(super_cluster.clone(), timings),
        super_cluster,
        proxy,
        target: target.clone(),
        node_name: config.node_name.clone(),
        metrics,
    });
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| AgentError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| AgentError::Bind {
        addr: config.listen,
        source,
    })?;
    let ops = serve_ops(
        config.metrics_bind_address,
        registry.clone(),
        Readiness::ready(),
    )
    .await?;
    let (stop, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, acceptor, state, async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    tracing::info!(%addr, ops = %ops.local_addr(), kubelet = ?target, "vn-agent listening");
    Ok(AgentHandle {
        addr,
        ops,
        registry,
        stop,
        task,
    })
}

/// Runs vn-agent until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), AgentError> {
    let handle = start(config).await?;
    // An error means no signal can arrive; stopping is what a signal would have done.
    let _ = common::process::shutdown_signal().await;
    tracing::info!("shutting down");
    handle.shutdown().await
}

async fn super_client(config: &Config) -> Result<kube::Client, AgentError> {
    let kube_config = match &config.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| AgentError::Kubeconfig(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| AgentError::Kubeconfig(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| AgentError::Kubeconfig(e.to_string()))?,
    };
    kube::Client::try_from(kube_config).map_err(|e| AgentError::Kubeconfig(e.to_string()))
}

/// The serving configuration: the given certificate or a generated self-signed one, a client
/// certificate required with no CA hints (verified per tenant after the handshake).
fn serving_config(config: &Config) -> Result<rustls::ServerConfig, AgentError> {
    let (chain, key) = match (&config.tls_cert_file, &config.tls_private_key_file) {
        (Some(cert), Some(key)) => (
            tls::certs_from_file(cert)?,
            tls::private_key_from_file(key)?,
        ),
        _ => self_signed(config)?,
    };
    Ok(tls::server_config(
        chain,
        key,
        ClientAuth::Custom(Arc::new(RequireClientCert::new())),
        &[b"http/1.1"],
    )?)
}

fn self_signed(
    config: &Config,
) -> Result<
    (
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    ),
    AgentError,
> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    names.extend(config.node_name.clone());
    if !config.listen.ip().is_unspecified() {
        names.push(config.listen.ip().to_string());
    }
    tracing::info!(
        ?names,
        "no serving certificate given: using a self-signed one"
    );
    let leaf =
        common::pki::self_signed(&common::pki::LeafSpec::server("vn-agent").with_names(names))?;
    let key = tls::private_key_from_pem(leaf.key_pem.as_bytes())?;
    Ok((tls::certs_from_pem(leaf.cert_pem.as_bytes())?, key))
}

fn kubelet_client_config(config: &Config) -> Result<rustls::ClientConfig, AgentError> {
    let verification = match &config.kubelet_certificate_authority {
        Some(ca) => ServerVerification::Roots(tls::root_store(&tls::certs_from_file(ca)?)?),
        None => ServerVerification::Insecure,
    };
    let client_cert = match (
        &config.kubelet_client_certificate,
        &config.kubelet_client_key,
    ) {
        (Some(cert), Some(key)) => Some((
            tls::certs_from_file(cert)?,
            tls::private_key_from_file(key)?,
        )),
        _ => {
            tracing::warn!(
                "no --kubelet-client-certificate: kubelets that require authentication will refuse requests"
            );
            None
        }
    };
    Ok(tls::client_config(verification, client_cert, &[])?)
}
