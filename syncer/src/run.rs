//! Starting and stopping the syncer: ops endpoint, leader election, super caches, tenant
//! lifecycle, workers and background loops.

use std::net::SocketAddr;
use std::sync::Arc;

use common::leader::{LeaderElector, LeaderTimings};
use common::ops::{OpsHandle, Readiness, serve_ops};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, SyncerConfig};
use crate::context::{Context, Queues};
use crate::metrics::{Metrics, MetricsError};
use crate::queue::{Backoff, Direction, WorkQueue};
use crate::resources::node::loops;
use crate::{patrol, quota, reconcile, resources, tenants};

/// Why the syncer cannot start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Invalid settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No usable super-cluster configuration.
    #[error("super cluster client: {0}")]
    Client(String),
    /// Metrics registration failed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The ops endpoint failed.
    #[error(transparent)]
    Ops(#[from] common::ops::OpsError),
    /// Leader election could not be set up.
    #[error(transparent)]
    Leader(#[from] common::leader::LeaderError),
    /// This replica lost the leadership; the process should restart.
    #[error("lost leadership of the syncer lease")]
    LostLeadership,
    /// The main task panicked.
    #[error("syncer task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A running syncer.
pub struct SyncerHandle {
    ops: OpsHandle,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), RunError>>,
    ctx: tokio::sync::watch::Receiver<Option<Arc<Context>>>,
}

impl SyncerHandle {
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.local_addr()
    }

    /// The syncer's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// The shared state, once this replica leads and has started syncing.
    pub fn context(&self) -> Option<Arc<Context>> {
        self.ctx.borrow().clone()
    }

    /// Stops syncing and the ops endpoint; releases the leader lease.
    pub async fn shutdown(self) -> Result<(), RunError> {
        self.cancel.cancel();
        let result = self.task.await?;
        self.ops.shutdown().await?;
        result
    }

    /// Waits until the syncer stops by itself (e.g. lost leadership).
    pub async fn wait(self) -> Result<(), RunError> {
        let result = self.task.await?;
        self.ops.shutdown().await?;
        result
    }

    /// A token that stops the syncer when cancelled.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

/// The super-cluster client: `--kubeconfig` when given, else `KUBECONFIG`/the default
/// kubeconfig, else the in-cluster service account.
pub async fn super_client(config: &SyncerConfig) -> Result<Client, RunError> {
    let cfg = match &config.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| RunError::Client(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| RunError::Client(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| RunError::Client(format!("no kubeconfig and not in a cluster: {e}")))?,
    };
    Client::try_from(cfg).map_err(|e| RunError::Client(e.to_string()))
}

/// Starts the syncer in the background against the super cluster `client` (built from the
/// config when `None`).
pub async fn start(config: SyncerConfig, client: Option<Client>) -> Result<SyncerHandle, RunError> {
    config.validate()?;
    let client = match client {
        Some(c) => c,
        None => super_client(&config).await?,
    };
    let metrics = Arc::new(Metrics::new()?);
    let readiness = Readiness::not_ready("super cluster caches are not synced yet");
    let ops = serve_ops(config.ops_addr, metrics.registry.clone(), readiness.clone()).await?;
    tracing::info!(metrics = %format!("http://{}/metrics", ops.local_addr()), "syncer ops endpoint");
    let cancel = CancellationToken::new();
    let (ctx_tx, ctx_rx) = tokio::sync::watch::channel(None);
    let task = tokio::spawn(main_task(
        config,
        client,
        Arc::clone(&metrics),
        readiness,
        cancel.clone(),
        ctx_tx,
    ));
    Ok(SyncerHandle {
        ops,
        metrics,
        cancel,
        task,
        ctx: ctx_rx,
    })
}

async fn main_task(
    config: SyncerConfig,
    client: Client,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    cancel: CancellationToken,
    ctx_tx: tokio::sync::watch::Sender<Option<Arc<Context>>>,
) -> Result<(), RunError> {
    let leader = if config.leader_election {
        let ns = config.lease_namespace();
        let identity = common::leader::default_identity();
        let elector = LeaderElector::new(
            client.clone(),
            &ns,
            &config.leader_election_name,
            &identity,
            LeaderTimings::default(),
        )?;
        tracing::info!(lease = %format!("{ns}/{}", config.leader_election_name), identity, "waiting for leadership");
        let handle = elector.spawn();
        // A standby replica is healthy and ready (a rollout must not wait for leadership).
        readiness.set_ready();
        tokio::select! {
            _ = cancel.cancelled() => {
                handle.shutdown().await;
                return Ok(());
            }
            _ = handle.wait_leading() => {}
        }
        tracing::info!("leading: starting to sync");
        readiness.set_not_ready("leading; super cluster caches are not synced yet");
        Some(handle)
    } else {
        None
    };
    let backoff = Backoff {
        max_retries: config.max_retries,
        ..Backoff::default()
    };
    let down = Arc::new(WorkQueue::new(
        Direction::Down,
        backoff,
        Arc::clone(&metrics),
    ));
    let up = Arc::new(WorkQueue::new(Direction::Up, backoff, Arc::clone(&metrics)));
    down.set_max_in_flight(crate::queue::fair::tenant_share(config.down_workers));
    up.set_max_in_flight(crate::queue::fair::tenant_share(config.up_workers));
    let (_, supers) = resources::stores(&config);
    let queues = Queues {
        down: Arc::clone(&down),
        up: Arc::clone(&up),
    };
    let ctx = Arc::new(Context::new(
        config.clone(),
        client,
        supers,
        queues,
        metrics,
        cancel.child_token(),
    ));
    for kind in resources::enabled(&config) {
        kind.watch_super(&ctx);
    }
    let synced = async {
        while !ctx.supers_synced() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = cancel.cancelled() => {
            ctx.cancel.cancel();
            if let Some(l) = leader { l.shutdown().await; }
            return Ok(());
        }
        _ = synced => {}
    }
    readiness.set_ready();
    let _ = ctx_tx.send(Some(Arc::clone(&ctx)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..config.down_workers {
        tasks.spawn(reconcile::worker::run(Arc::clone(&ctx), Arc::clone(&down)));
    }
    for _ in 0..config.up_workers {
        tasks.spawn(reconcile::worker::run(Arc::clone(&ctx), Arc::clone(&up)));
    }
    tasks.spawn(tenants::lifecycle::run(Arc::clone(&ctx)));
    tasks.spawn(patrol::run(Arc::clone(&ctx)));
    tasks.spawn(quota::housekeeping::run(Arc::clone(&ctx)));
    tasks.spawn(loops::lease_loop(Arc::clone(&ctx)));
    tasks.spawn(loops::gc_loop(Arc::clone(&ctx)));
    tracing::info!(
        down_workers = config.down_workers,
        up_workers = config.up_workers,
        vn_agent_port = config.vn_agent_port,
        patrol_secs = config.patrol_interval_secs,
        "syncer running"
    );
    let lost = async {
        match &leader {
            Some(l) => {
                let mut rx = l.subscribe();
                let _ = rx.wait_for(|leading| !*leading).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let result = tokio::select! {
        _ = cancel.cancelled() => Ok(()),
        _ = lost => Err(RunError::LostLeadership),
    };
    readiness.set_not_ready("shutting down");
    down.close();
    up.close();
    ctx.cancel.cancel();
    tasks.shutdown().await;
    for t in ctx.tenants() {
        t.cancel.cancel();
    }
    if let Some(l) = leader {
        l.shutdown().await;
    }
    result
}

/// Runs the syncer until SIGINT/SIGTERM (or lost leadership).
pub async fn run(config: SyncerConfig) -> Result<(), RunError> {
    let handle = start(config, None).await?;
    let cancel = handle.cancel_token();
    tokio::spawn(async move {
        // An error means no signal can arrive; stopping is what a signal would have done.
        let _ = common::process::shutdown_signal().await;
        tracing::info!("shutdown signal received");
        cancel.cancel();
    });
    handle.wait().await
}
