//! syncer binary: `syncer --kubeconfig FILE [--config FILE] [flags]`.

/// mimalloc: these programs allocate many short-lived JSON values; glibc malloc was the top
/// cost in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use syncer::SyncerConfig;

/// The virtualcluster syncer: syncs every tenant of one super cluster.
#[derive(Parser, Debug)]
#[command(name = "syncer", version, about)]
struct Args {
    /// Kubeconfig of the super cluster (default: KUBECONFIG, then the in-cluster config).
    #[arg(long, env = "SYNCER_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// YAML/JSON settings file; flags given on the command line override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address of /metrics, /healthz and /readyz (port 0 picks a free port, logged at start).
    #[arg(long)]
    ops_addr: Option<SocketAddr>,
    /// Workers for downward (tenant → super) work.
    #[arg(long)]
    down_workers: Option<usize>,
    /// Workers for upward (super → tenant) work.
    #[arg(long)]
    up_workers: Option<usize>,
    /// Default sync operations per second per tenant (VC spec.sync.qps overrides).
    #[arg(long)]
    tenant_qps: Option<u32>,
    /// Default burst per tenant (VC spec.sync.burst overrides).
    #[arg(long)]
    tenant_burst: Option<u32>,
    /// vn-agent port advertised on virtual nodes.
    #[arg(long)]
    vn_agent_port: Option<u16>,
    /// Seconds between patrol scans.
    #[arg(long)]
    patrol_interval: Option<u64>,
    /// Seconds a virtual node without tenant pods is kept.
    #[arg(long)]
    vnode_gc_grace: Option<u64>,
    /// Virtual nodes every tenant sees before its pods run anywhere: that many of the super
    /// nodes its placement allows (0: only the nodes its pods run on).
    #[arg(long)]
    vnodes_before_pods: Option<usize>,
    /// Seconds between tenant health probes.
    #[arg(long)]
    health_interval: Option<u64>,
    /// Lifetime of service-account tokens requested from tenants, in seconds.
    #[arg(long)]
    token_ttl: Option<u64>,
    /// Also sync ingresses.
    #[arg(long)]
    sync_ingresses: bool,
    /// Do not elect a leader (run only one replica then).
    #[arg(long)]
    no_leader_election: bool,
    /// Namespace of the leader-election Lease (default: POD_NAMESPACE, else vc-manager).
    #[arg(long)]
    leader_election_namespace: Option<String>,
    /// Quota of tenants whose VirtualCluster sets no spec.quota, as ResourceQuota names and
    /// quantities: `pods=100,requests.cpu=10`.
    #[arg(long, value_name = "NAME=QUANTITY,...", value_parser = syncer::quota::usage::parse_hard_flag)]
    default_tenant_quota: Option<std::collections::BTreeMap<String, String>>,
    /// Human-readable logs instead of JSON.
    #[arg(long)]
    text_logs: bool,
}

impl Args {
    fn into_config(self) -> anyhow::Result<SyncerConfig> {
        let mut c = match &self.config {
            Some(path) => SyncerConfig::from_file(path)?,
            None => SyncerConfig::default(),
        };
        if self.kubeconfig.is_some() {
            c.kubeconfig = self.kubeconfig;
        }
        macro_rules! set {
            ($($flag:ident => $field:ident),*) => {
                $(if let Some(v) = self.$flag { c.$field = v; })*
            };
        }
        set!(ops_addr => ops_addr, down_workers => down_workers, up_workers => up_workers,
             tenant_qps => tenant_qps, tenant_burst => tenant_burst, vn_agent_port => vn_agent_port,
             patrol_interval => patrol_interval_secs, vnode_gc_grace => vnode_gc_grace_secs,
             vnodes_before_pods => vnodes_before_pods,
             health_interval => health_interval_secs, token_ttl => token_ttl_secs,
             default_tenant_quota => default_tenant_quota);
        if self.sync_ingresses {
            c.sync_ingresses = true;
        }
        if self.no_leader_election {
            c.leader_election = false;
        }
        if self.leader_election_namespace.is_some() {
            c.leader_election_namespace = self.leader_election_namespace;
        }
        c.validate()?;
        Ok(c)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    let args = Args::parse();
    common::process::init_tracing(if args.text_logs {
        common::process::LogFormat::Text
    } else {
        common::process::LogFormat::Json
    });
    let config = args.into_config()?;
    syncer::run(config).await?;
    Ok(())
}
