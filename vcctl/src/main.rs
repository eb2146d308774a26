//! vcctl: runs virtualcluster locally and manages VirtualClusters.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vcctl",
    version,
    about = "virtualcluster: hard multi-tenancy for Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an embedded super cluster, its nodes, vc-manager, syncer and vn-agent, and a demo tenant.
    Up,
}

fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Up => anyhow::bail!(
            "`vcctl up` needs the embedded API server, nodesim, syncer, vc-manager and vn-agent, \
             which are not built yet (issues 3-9)"
        ),
    }
}
