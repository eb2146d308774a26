//! Starting and stopping vc-manager: provisioners, the controller (behind leader election), and
//! the operations endpoint.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::leader::{LeaderElector, LeaderTimings};
use common::ops::{OpsHandle, Readiness, serve_ops};
use crds::{Provisioner, VirtualCluster};
use kube::api::ListParams;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::controller::{Context, run_controller};
use crate::metrics::Metrics;
use crate::provisioner::Provisioners;
use crate::provisioner::import::Import;
use crate::provisioner::local::{Local, LocalConfig};
use crate::provisioner::native::Native;
use crate::state::Timings;

/// Name of the controller in events and of its leader-election Lease.
pub const CONTROLLER_NAME: &str = "vc-manager";

/// Leader election settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElection {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// This candidate's identity (pod name, by default host name plus a random suffix).
    pub identity: String,
    /// Lease duration, renew deadline, retry period.
    pub timings: LeaderTimings,
}

/// Everything vc-manager can be told.
#[derive(Clone, Debug)]
pub struct Config {
    /// Kubeconfig of the super cluster for [`run`] (default: `KUBECONFIG`, then in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Provisioner of VirtualClusters that name none.
    pub default_provisioner: Provisioner,
    /// Provisioners this instance runs (others fail VirtualClusters with a clear condition).
    pub provisioners: HashSet<Provisioner>,
    /// Where the `local` provisioner keeps tenant state.
    pub state_dir: PathBuf,
    /// Directory with upstream `etcd` and `kube-apiserver` (and `kube-controller-manager`)
    /// binaries for the `local` provisioner.
    pub control_plane_binaries: Option<PathBuf>,
    /// Address local control planes listen on.
    pub local_bind_address: IpAddr,
    /// Extra DNS names or IPs for every tenant API server certificate.
    pub apiserver_extra_sans: Vec<String>,
    /// Timeouts, polls and backoff of the state machine.
    pub timings: Timings,
    /// VirtualClusters reconciled in parallel.
    pub concurrency: u16,
    /// Leader election (off: this instance always leads).
    pub leader_election: Option<LeaderElection>,
    /// Address of `/metrics`, `/healthz`, `/readyz` (off when `None`).
    pub ops_addr: Option<SocketAddr>,
    /// Reporting instance in events (pod name).
    pub instance: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kubeconfig: None,
            default_provisioner: Provisioner::Native,
            provisioners: HashSet::from([
                Provisioner::Native,
                Provisioner::Import,
                Provisioner::Local,
            ]),
            state_dir: PathBuf::from("/var/lib/vc-manager"),
            control_plane_binaries: None,
            local_bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            apiserver_extra_sans: Vec::new(),
            timings: Timings::default(),
            concurrency: 8,
            leader_election: None,
            ops_addr: None,
            instance: None,
        }
    }
}

/// Why vc-manager could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The super cluster's kubeconfig is unusable.
    #[error("cannot build a client for the super cluster: {0}")]
    Client(String),
    /// A setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The operations endpoint could not listen.
    #[error(transparent)]
    Ops(#[from] common::ops::OpsError),
    /// Leader election could not start.
    #[error(transparent)]
    Leader(#[from] common::leader::LeaderError),
    /// Waiting for a signal failed.
    #[error("signal handling: {0}")]
    Signal(std::io::Error),
}

/// A running vc-manager.
pub struct ManagerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    ops: Option<OpsHandle>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for ManagerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerHandle")
            .field("ops_addr", &self.ops_addr())
            .finish_non_exhaustive()
    }
}

impl ManagerHandle {
    /// Where `/metrics`, `/healthz` and `/readyz` are served, when enabled.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(OpsHandle::local_addr)
    }

    /// The metrics registry (for embedding into another endpoint).
    pub fn registry(&self) -> prometheus::Registry {
        self.metrics.registry.clone()
    }

    /// Stops the controller and local control planes (their state stays on disk), releases the
    /// lease, and stops the operations endpoint.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Some(ops) = self.ops {
            let _ = ops.shutdown().await;
        }
    }
}

fn provisioners(config: &Config, client: &Client) -> Result<Provisioners, StartError> {
    let local = if config.provisioners.contains(&Provisioner::Local) {
        let local = Local::new(LocalConfig {
            state_dir: config.state_dir.clone(),
            binaries: config.control_plane_binaries.clone(),
            bind_address: config.local_bind_address,
        });
        match local {
            Ok(l) => Some(l),
            Err(e) if config.control_plane_binaries.is_some() => {
                return Err(StartError::Config(e));
            }
            Err(e) => {
                tracing::warn!(reason = %e, "the local provisioner is disabled");
                None
            }
        }
    } else {
        None
    };
    if !config.provisioners.contains(&config.default_provisioner) {
        return Err(StartError::Config(format!(
            "the default provisioner {:?} is not among the enabled ones",
            config.default_provisioner.as_str()
        )));
    }
    Ok(Provisioners {
        native: Native::new(client.clone()),
        import: Import::new(client.clone()),
        local,
        extra_sans: config.apiserver_extra_sans.clone(),
        enabled: config.provisioners.clone(),
    })
}

/// Starts vc-manager against the super cluster `client`.
pub async fn start(config: Config, client: Client) -> Result<ManagerHandle, StartError> {
    let metrics = Arc::new(Metrics::new()?);
    let readiness = Readiness::not_ready("checking the VirtualCluster API");
    let ops = match config.ops_addr {
        Some(addr) => Some(serve_ops(addr, metrics.registry.clone(), readiness.clone()).await?),
        None => None,
    };
    let provisioners = provisioners(&config, &client)?;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: CONTROLLER_NAME.into(),
            instance: config.instance.clone(),
        },
    );
    let ctx = Arc::new(Context::new(
        client.clone(),
        recorder,
        provisioners,
        config.default_provisioner,
        config.timings.clone(),
        metrics.clone(),
    ));
    let elector = match &config.leader_election {
        Some(le) => Some(LeaderElector::new(
            client.clone(),
            &le.namespace,
            &le.lease_name,
            &le.identity,
            le.timings,
        )?),
        None => None,
    };
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(check_api(client, readiness, stop_rx.clone()));
    let task = tokio::spawn(manage(ctx, config.concurrency, elector, stop_rx));
    Ok(ManagerHandle {
        stop,
        task,
        ops,
        metrics,
    })
}

/// Ready once the VirtualCluster API answers (the CRD is installed and we may list it).
async fn check_api(client: Client, readiness: Readiness, mut stop: watch::Receiver<bool>) {
    let api: Api<VirtualCluster> = Api::all(client);
    loop {
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => {
                readiness.set_ready();
                return;
            }
            Err(e) => readiness.set_not_ready(format!("cannot list VirtualClusters: {e}")),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

async fn manage(
    ctx: Arc<Context>,
    concurrency: u16,
    elector: Option<LeaderElector>,
    stop: watch::Receiver<bool>,
) {
    let stopped = {
        let stop = stop.clone();
        move || {
            let mut stop = stop.clone();
            async move {
                let _ = stop.wait_for(|v| *v).await;
            }
        }
    };
    match elector {
        None => run_controller(ctx.clone(), concurrency, stopped()).await,
        Some(elector) => {
            let leader = elector.spawn();
            loop {
                tokio::select! {
                    _ = leader.wait_leading() => {}
                    _ = stopped() => break,
                }
                tracing::info!("leading: starting the VirtualCluster controller");
                let mut leading = leader.subscribe();
                let stop_or_lost = {
                    let stop = stopped();
                    async move {
                        tokio::select! {
                            _ = stop => {}
                            _ = leading.wait_for(|l| !*l) => {}
                        }
                    }
                };
                run_controller(ctx.clone(), concurrency, stop_or_lost).await;
                if let Some(local) = &ctx.provisioners.local {
                    local.shutdown().await;
                }
                if *stop.borrow() {
                    break;
                }
                tracing::warn!("lost leadership: controller stopped, campaigning again");
            }
            leader.shutdown().await;
        }
    }
    if let Some(local) = &ctx.provisioners.local {
        local.shutdown().await;
    }
}

/// Runs vc-manager until SIGTERM or Ctrl-C (the binary's entry point).
pub async fn run(config: Config) -> Result<(), StartError> {
    let client = super_client(config.kubeconfig.as_ref()).await?;
    let handle = start(config, client).await?;
    common::process::shutdown_signal()
        .await
        .map_err(StartError::Signal)?;
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
}

async fn super_client(kubeconfig: Option<&PathBuf>) -> Result<Client, StartError> {
    let Some(path) = kubeconfig else {
        return Client::try_default()
            .await
            .map_err(|e| StartError::Client(e.to_string()));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| StartError::Client(format!("reading {}: {e}", path.display())))?;
    crate::kube_client_from_kubeconfig(&text)
        .await
        .map_err(|e| StartError::Client(format!("{}: {e}", path.display())))
}
