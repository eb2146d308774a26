//! nodesim binary: simulated nodes, scheduler and kubelet API for a Kubernetes API server.

/// mimalloc: these programs allocate many short-lived JSON values; glibc malloc was the top
/// cost in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use nodesim::provider::mock::parse_duration;
use nodesim::{NodesimConfig, PoolConfig};

/// Simulated Kubernetes nodes (Virtual-Kubelet-style) with a scheduler and the kubelet API.
#[derive(Debug, Parser)]
#[command(name = "nodesim", version)]
struct Args {
    /// Kubeconfig of the API server (default: in-cluster or $KUBECONFIG).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Nodes in the default pool (`nodesim-<i>`); 0 when only --pool is used.
    #[arg(long)]
    nodes: Option<usize>,
    /// A node pool: name=..,count=..,cpu=..,memory=..,max-pods=..,gpu=..,node-class=<uuid>,
    /// flavor=..,taint=key=value:Effect,provider-taint=true,default-cpu=..,default-memory=..,label=k=v.
    #[arg(long = "pool")]
    pools: Vec<String>,
    /// Kubelet API listen address.
    #[arg(long, default_value = "127.0.0.1:10250")]
    kubelet_listen: SocketAddr,
    /// InternalIP published for the nodes (default: the listen address).
    #[arg(long)]
    kubelet_advertise: Option<IpAddr>,
    /// CA (PEM) that kubelet clients (the API server) must present certificates from.
    #[arg(long)]
    client_ca: PathBuf,
    /// Kubelet serving certificate (PEM); generated when absent.
    #[arg(long, requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// Kubelet serving key (PEM).
    #[arg(long, requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,
    /// Time from Pending to Running (0 = instant).
    #[arg(long, default_value = "0s", value_parser = duration)]
    start_delay: Duration,
    /// Lease duration.
    #[arg(long, default_value = "40s", value_parser = duration)]
    lease_duration: Duration,
    /// Lease renewal interval.
    #[arg(long, default_value = "10s", value_parser = duration)]
    renew_interval: Duration,
    /// Node status interval.
    #[arg(long, default_value = "60s", value_parser = duration)]
    status_interval: Duration,
    /// Scheduler name served.
    #[arg(long, default_value = "default-scheduler")]
    scheduler_name: String,
    /// Do not run the scheduler.
    #[arg(long)]
    no_scheduler: bool,
    /// Do not write the scheduler's and kubelet's Events (Scheduled, Pulled, Created, Started,
    /// Killing, FailedScheduling).
    #[arg(long)]
    no_events: bool,
    /// Range the nodes' /24 pod CIDRs are taken from.
    #[arg(long, default_value = "10.64.0.0/10")]
    pod_cidr: ipnet::Ipv4Net,
    /// Operations endpoint (/metrics, /healthz, /livez, /readyz) over plain HTTP.
    #[arg(long, default_value = "127.0.0.1:10255")]
    ops_listen: SocketAddr,
    /// Log as text instead of JSON.
    #[arg(long)]
    log_text: bool,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("invalid duration {s:?} (use e.g. 500ms, 10s, 1m)"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    let args = Args::parse();
    common::process::init_tracing(if args.log_text {
        common::process::LogFormat::Text
    } else {
        common::process::LogFormat::Json
    });
    let kube = match &args.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    let client_ca = std::fs::read_to_string(&args.client_ca)
        .with_context(|| format!("reading --client-ca {}", args.client_ca.display()))?;
    let mut cfg = NodesimConfig::new(kube, 0, client_ca);
    cfg.pools.clear();
    if let Some(n) = args.nodes.filter(|n| *n > 0) {
        cfg.pools.push(PoolConfig {
            count: n,
            ..Default::default()
        });
    }
    for spec in &args.pools {
        cfg.pools.push(PoolConfig::parse(spec)?);
    }
    anyhow::ensure!(
        !cfg.pools.is_empty(),
        "no nodes: use --nodes N and/or --pool"
    );
    cfg.kubelet.listen = args.kubelet_listen;
    cfg.kubelet.advertise = args.kubelet_advertise;
    if let (Some(c), Some(k)) = (&args.tls_cert_file, &args.tls_private_key_file) {
        cfg.kubelet.serving = Some((std::fs::read_to_string(c)?, std::fs::read_to_string(k)?));
    }
    cfg.mock.start_delay = args.start_delay;
    cfg.heartbeat.lease_duration = args.lease_duration;
    cfg.heartbeat.renew_interval = args.renew_interval;
    cfg.heartbeat.status_interval = args.status_interval;
    cfg.scheduler_name = (!args.no_scheduler).then(|| args.scheduler_name.clone());
    cfg.pod_cidr = args.pod_cidr;
    cfg.events = !args.no_events;
    let sim = nodesim::start(cfg).await?;
    let readiness = common::ops::Readiness::not_ready("nodes are registering");
    let ops =
        common::ops::serve_ops(args.ops_listen, sim.metrics_registry(), readiness.clone()).await?;
    tracing::info!(kubelet = %sim.kubelet_addr(), nodes = sim.node_names().len(), "nodesim started");
    // Waiting for readiness and serving share one signal, so one Ctrl-C or SIGTERM stops either.
    let signal = common::process::shutdown_signal();
    tokio::pin!(signal);
    tokio::select! {
        res = sim.wait_ready(Duration::from_secs(300)) => {
            res?;
            readiness.set_ready();
            tracing::info!("all nodes registered");
            tokio::select! {
                _ = &mut signal => {}
                _ = sim.stopped() => {}
            }
        }
        _ = &mut signal => {}
    }
    sim.shutdown();
    ops.shutdown().await?;
    Ok(())
}
