//! vn-agent binary.

fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    anyhow::bail!("vn-agent is not implemented yet (issue 8)")
}
