//! vn-agent binary.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    let config = vn_agent::Config::parse();
    common::process::init_tracing(config.log_format.into());
    vn_agent::run(config).await?;
    Ok(())
}
