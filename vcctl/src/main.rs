//! vcctl: runs virtualcluster locally and manages VirtualClusters (also `kubectl vc`).
//! `src/bin/kubectl-vc.rs` includes this file as a module, so the two binaries are one CLI.

/// mimalloc: these programs allocate many short-lived JSON values; glibc malloc was the top
/// cost in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod instance;
mod manage;
mod up;

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
    Up(up::UpArgs),
    /// Stop the instance `vcctl up` runs in a state directory.
    Down(instance::DownArgs),
    /// Show the components, tenants and nodes of the instance in a state directory.
    Status(instance::StatusArgs),
    /// Create VirtualClusters from a YAML file.
    Create(manage::CreateArgs),
    /// List VirtualClusters, or show one with the condition that keeps it from being ready.
    Get(manage::GetArgs),
    /// Print the admin kubeconfig of a Running VirtualCluster.
    Kubeconfig(manage::KubeconfigArgs),
    /// Delete a VirtualCluster and everything provisioned for it.
    Delete(manage::DeleteArgs),
}

/// Runs the CLI (also the entry point of `kubectl-vc`): errors go to stderr as one sentence
/// with their causes, and the exit code is 1. A closed stdout (`vcctl status | head -1`) ends
/// the program quietly, as it ends any Unix filter.
pub fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether the error is a write to a pipe whose reader has gone.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    let cli = Cli::parse();
    // `up` logs to a file in its state directory: its terminal shows progress.
    if !matches!(cli.command, Command::Up(_)) {
        common::process::init_tracing(common::process::LogFormat::Text);
    }
    match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Down(args) => instance::down(args).await,
        Command::Status(args) => instance::status(args).await,
        Command::Create(args) => manage::create(args).await,
        Command::Get(args) => manage::get(args).await,
        Command::Kubeconfig(args) => manage::kubeconfig(args).await,
        Command::Delete(args) => manage::delete(args).await,
    }
}
