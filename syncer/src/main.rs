//! syncer binary.

fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    anyhow::bail!("syncer is not implemented yet (issue 6)")
}
