//! apiserver binary.

fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    anyhow::bail!("apiserver is not implemented yet (issue 3)")
}
