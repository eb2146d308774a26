//! vc-manager binary.

fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    anyhow::bail!("vc-manager is not implemented yet (issue 7)")
}
