//! vc-manager binary: flags → [`vc_manager::Config`] → [`vc_manager::run`].

/// mimalloc: these programs allocate many short-lived JSON values; glibc malloc was the top
/// cost in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use common::leader::{LeaderTimings, default_identity};
use crds::Provisioner;
use vc_manager::{Config, LeaderElection};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ProvisionerArg {
    Native,
    Local,
    Import,
}

impl From<ProvisionerArg> for Provisioner {
    fn from(p: ProvisionerArg) -> Self {
        match p {
            ProvisionerArg::Native => Provisioner::Native,
            ProvisionerArg::Local => Provisioner::Local,
            ProvisionerArg::Import => Provisioner::Import,
        }
    }
}

/// Provisions tenant control planes for VirtualCluster objects.
#[derive(Parser, Debug)]
#[command(name = "vc-manager", version)]
struct Args {
    /// Kubeconfig of the super cluster (default: KUBECONFIG, then in-cluster config).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Provisioner of VirtualClusters whose spec names none.
    #[arg(long, value_enum, default_value = "native")]
    default_provisioner: ProvisionerArg,
    /// Provisioners this instance runs.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "native,import,local"
    )]
    provisioners: Vec<ProvisionerArg>,
    /// Where the local provisioner keeps tenant state (ports, PKI files, data, logs).
    #[arg(long, default_value = "/var/lib/vc-manager")]
    state_dir: PathBuf,
    /// Directory with upstream etcd and kube-apiserver (and kube-controller-manager) binaries
    /// for the local provisioner.
    #[arg(long)]
    control_plane_binaries: Option<PathBuf>,
    /// Address local control planes listen on.
    #[arg(long, default_value = "127.0.0.1")]
    local_bind_address: IpAddr,
    /// Extra DNS names or IPs for every tenant API server certificate.
    #[arg(long, value_delimiter = ',')]
    apiserver_extra_sans: Vec<String>,
    /// Seconds a control plane may take to become ready before the VirtualCluster fails.
    #[arg(long, default_value_t = 600)]
    provision_timeout: u64,
    /// Longest retry delay after failures, in seconds.
    #[arg(long, default_value_t = 300)]
    max_backoff: u64,
    /// VirtualClusters reconciled in parallel.
    #[arg(long, default_value_t = 8)]
    concurrency: u16,
    /// Run only while holding the leader-election Lease.
    #[arg(long, default_value_t = false)]
    leader_elect: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "vc-manager")]
    leader_elect_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "vc-manager")]
    leader_elect_lease: String,
    /// Identity in the Lease (default: host name plus a random suffix).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    ops_addr: SocketAddr,
    /// Log as text instead of JSON.
    #[arg(long, default_value_t = false)]
    log_text: bool,
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
    let timings = vc_manager::state::Timings {
        provision_timeout: Duration::from_secs(args.provision_timeout),
        backoff_max: Duration::from_secs(args.max_backoff.max(1)),
        ..Default::default()
    };
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let config = Config {
        kubeconfig: args.kubeconfig,
        default_provisioner: args.default_provisioner.into(),
        provisioners: args
            .provisioners
            .into_iter()
            .map(Into::into)
            .collect::<HashSet<_>>(),
        state_dir: args.state_dir,
        control_plane_binaries: args.control_plane_binaries,
        local_bind_address: args.local_bind_address,
        apiserver_extra_sans: args.apiserver_extra_sans,
        timings,
        concurrency: args.concurrency.max(1),
        leader_election: args.leader_elect.then(|| LeaderElection {
            namespace: args.leader_elect_namespace,
            lease_name: args.leader_elect_lease,
            identity: identity.clone(),
            timings: LeaderTimings::default(),
        }),
        ops_addr: Some(args.ops_addr),
        instance: Some(identity),
    };
    vc_manager::run(config).await?;
    Ok(())
}
