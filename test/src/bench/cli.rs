//! The `bench` command line: scenarios and their arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Benchmarks of the syncer, after the VirtualCluster paper.
#[derive(Debug, Parser)]
#[command(name = "bench", version, about)]
pub struct Cli {
    /// Which benchmark.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// Throughput, latency, CPU/memory per pod, restart convergence and patrol scan time.
    Sync(SyncArgs),
    /// Regular tenants' latency while greedy tenants flood the syncer.
    Fairness(FairnessArgs),
    /// The syncer's memory, restart and patrol cost as the pod count grows.
    Scale(ScaleArgs),
}

/// Settings shared by both benchmarks.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Simulated super-cluster nodes (default: enough for the pods at 200 per node; nodesim
    /// gives each node a /24 pod CIDR, so a node runs at most 250 pods).
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Concurrent binding/status writers in nodesim.
    #[arg(long, default_value_t = 64)]
    pub nodesim_workers: usize,
    /// Worker threads of each in-process runtime (super, nodes, tenants, harness).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Syncer binary (default: `syncer` next to this binary, built with cargo first).
    #[arg(long)]
    pub syncer_bin: Option<PathBuf>,
    /// Do not run `cargo build -p syncer` before looking for the syncer binary.
    #[arg(long)]
    pub no_build: bool,
    /// Extra argument for the syncer (repeatable), e.g. `--syncer-arg=--down-workers=32`.
    #[arg(long = "syncer-arg", allow_hyphen_values = true)]
    pub syncer_args: Vec<String>,
    /// Seconds between the syncer's patrol scans during the runs (default: the syncer's own).
    #[arg(long)]
    pub patrol_interval: Option<u64>,
    /// Seconds between patrol scans of the syncer started at the end to time them.
    #[arg(long, default_value_t = 2)]
    pub scan_interval: u64,
    /// Give up waiting for any phase after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Keep the working directory (syncer log, kubeconfig) and print its path.
    #[arg(long)]
    pub keep: bool,
}

/// `bench sync`.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// Tenant control planes.
    #[arg(long, default_value_t = 100)]
    pub tenants: usize,
    /// Pods in total (spread evenly over the tenants).
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// Pod creations in flight at once (the same for the baseline and through the tenants).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Pods created in the restart burst (default: a tenth of --pods, at least one per tenant).
    #[arg(long)]
    pub restart_pods: Option<usize>,
    /// Smoke run: at most 3 tenants, 60 pods, 16 in flight.
    #[arg(long)]
    pub quick: bool,
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
}

/// `bench fairness`.
#[derive(Debug, Clone, Args)]
pub struct FairnessArgs {
    /// Greedy tenants.
    #[arg(long, default_value_t = 10)]
    pub greedy: usize,
    /// Pods each greedy tenant creates at once.
    #[arg(long, default_value_t = 900)]
    pub greedy_pods: usize,
    /// Creations in flight per greedy tenant.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Regular tenants.
    #[arg(long, default_value_t = 40)]
    pub regular: usize,
    /// Pods each regular tenant creates one after the other (each waits for the previous to run).
    #[arg(long, default_value_t = 10)]
    pub regular_pods: usize,
    /// Pod quota (`spec.quota.hard.pods`) of each greedy tenant in the third run, the burst
    /// with quotas; 0 skips that run.
    #[arg(long, default_value_t = 100)]
    pub greedy_quota: usize,
    /// Smoke run: 2 greedy × 30 pods (quota 10), 4 regular × 3 pods.
    #[arg(long)]
    pub quick: bool,
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
}

/// `bench scale`.
#[derive(Debug, Clone, Args)]
pub struct ScaleArgs {
    /// Tenant control planes.
    #[arg(long, default_value_t = 100)]
    pub tenants: usize,
    /// Pod totals to measure at, loaded in this order (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "10000,30000,100000")]
    pub sizes: Vec<usize>,
    /// Pod creations in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Pods of the burst the syncer is killed in, at the largest size.
    #[arg(long, default_value_t = 1000)]
    pub restart_pods: usize,
    /// Smoke run: 3 tenants, steps 30 and 60, a 12-pod burst.
    #[arg(long)]
    pub quick: bool,
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
}

impl Common {
    /// Nodes for a peak of `pods` pods at once.
    pub fn nodes_for(&self, pods: usize) -> usize {
        self.nodes.unwrap_or(pods.div_ceil(200)).max(1)
    }
}

impl SyncArgs {
    /// Applies `--quick` to every value the user did not set.
    pub(super) fn resolved(mut self) -> Self {
        if self.quick {
            self.tenants = self.tenants.min(3);
            self.pods = self.pods.min(60);
            self.concurrency = self.concurrency.min(16);
            self.common.timeout = self.common.timeout.min(120);
        }
        self.tenants = self.tenants.max(1);
        self.pods = self.pods.max(self.tenants);
        self.concurrency = self.concurrency.max(1);
        self
    }

    /// Pods of the restart burst.
    pub(super) fn restart_pods(&self) -> usize {
        self.restart_pods
            .unwrap_or(self.pods / 10)
            .max(self.tenants)
    }
}

impl ScaleArgs {
    /// Applies `--quick`; sizes are made increasing and at least one pod per tenant.
    pub(super) fn resolved(mut self) -> Self {
        if self.quick {
            self.tenants = self.tenants.min(3);
            self.sizes = vec![30, 60];
            self.restart_pods = self.restart_pods.min(12);
            self.concurrency = self.concurrency.min(16);
            self.common.timeout = self.common.timeout.min(120);
        }
        self.tenants = self.tenants.max(1);
        self.sizes.retain(|&s| s > 0);
        self.sizes.sort_unstable();
        self.sizes.dedup();
        if self.sizes.is_empty() {
            self.sizes.push(self.tenants);
        }
        self.restart_pods = self.restart_pods.max(self.tenants);
        self.concurrency = self.concurrency.max(1);
        self
    }
}

impl FairnessArgs {
    /// Applies `--quick`.
    pub(super) fn resolved(mut self) -> Self {
        if self.quick {
            self.greedy = self.greedy.min(2);
            self.greedy_pods = self.greedy_pods.min(30);
            self.regular = self.regular.min(4);
            self.regular_pods = self.regular_pods.min(3);
            self.greedy_quota = self.greedy_quota.min(10);
            self.common.timeout = self.common.timeout.min(120);
        }
        self.greedy_quota = self.greedy_quota.min(self.greedy_pods);
        self.concurrency = self.concurrency.max(1);
        self.regular = self.regular.max(1);
        self.regular_pods = self.regular_pods.max(1);
        self
    }
}
