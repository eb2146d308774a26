//! nodesim binary.

fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    anyhow::bail!("nodesim is not implemented yet (issue 5)")
}
