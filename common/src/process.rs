//! Start-of-process setup every binary runs first.

use tracing_subscriber::EnvFilter;

/// Installs `ring` as the process-wide rustls crypto provider. Idempotent: a second call (or a
/// provider installed by an embedding process) is not an error.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line (the default for programs running in a cluster).
    #[default]
    Json,
    /// Human-readable lines for terminals.
    Text,
}

/// Initialises `tracing` with `RUST_LOG` (default `info`). Safe to call more than once.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
}
