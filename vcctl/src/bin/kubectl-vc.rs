//! `kubectl-vc`: vcctl as a kubectl plugin (`kubectl vc get`, `kubectl vc kubeconfig NAME`, ...).
//! It is the very same program: the CLI of `src/main.rs`.

#[path = "../main.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
