//! vn-agent binary.

/// mimalloc: these programs allocate many short-lived JSON values; glibc malloc was the top
/// cost in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    let config = vn_agent::Config::parse();
    common::process::init_tracing(config.log_format.into());
    vn_agent::run(config).await?;
    Ok(())
}
