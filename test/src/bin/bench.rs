//! `bench`: the VirtualCluster paper's evaluation against this implementation.
//!
//! `cargo run --release -p e2e --bin bench -- sync --tenants 100 --pods 10000` measures the
//! syncer's overhead over creating pods directly in the super cluster, its throughput, per-pod
//! latency, CPU and memory per pod, restart convergence and patrol scan time.
//! `cargo run --release -p e2e --bin bench -- fairness` replicates the paper's burst: greedy
//! tenants flood the syncer while regular tenants create pods one at a time.
//!
//! The syncer runs as its own process (`target/<profile>/syncer`, built on demand) so that its
//! CPU time and memory are its own. Figures are printed next to their targets; the benchmark
//! never fails on them.

use clap::Parser;
use e2e::bench;

/// mimalloc: the in-process super cluster, nodes and tenants allocate many short-lived JSON values.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    common::process::init_tracing(common::process::LogFormat::Text);
    let cli = bench::Cli::parse();
    bench::run(cli)
}
