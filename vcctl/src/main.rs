//! vcctl: runs virtualcluster locally and manages VirtualClusters (also `kubectl vc`).
//! `src/bin/kubectl-vc.rs` includes this file as a module, so the two binaries are one CLI.

mod manage;

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
    /// Create VirtualClusters from a YAML file.
    Create(manage::CreateArgs),
    /// List VirtualClusters, or show one with the condition that keeps it from being ready.
    Get(manage::GetArgs),
    /// Print the admin kubeconfig of a Running VirtualCluster.
    Kubeconfig(manage::KubeconfigArgs),
    /// Delete a VirtualCluster and everything provisioned for it.
    Delete(manage::DeleteArgs),
}

/// Runs the CLI (also the entry point of `kubectl-vc`).
#[tokio::main]
pub async fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    common::process::init_tracing(common::process::LogFormat::Text);
    let cli = Cli::parse();
    match cli.command {
        Command::Up => anyhow::bail!(
            "`vcctl up` needs the embedded API server, nodesim, syncer, vc-manager and vn-agent, \
             which are not built yet (issues 3-9)"
        ),
        Command::Create(args) => manage::create(args).await,
        Command::Get(args) => manage::get(args).await,
        Command::Kubeconfig(args) => manage::kubeconfig(args).await,
        Command::Delete(args) => manage::delete(args).await,
    }
}
