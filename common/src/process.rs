//! Process setup every binary runs first, and the shutdown signal every binary waits for.

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

/// Resolves when the process is asked to stop: SIGINT (Ctrl-C) or SIGTERM (what Kubernetes
/// sends). Errs only when neither signal can be listened for, which callers treat as a stop.
pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                r = tokio::signal::ctrl_c() => match r {
                    Ok(()) => Ok(()),
                    // Without a SIGINT handler SIGTERM still stops the process.
                    Err(_) => {
                        term.recv().await;
                        Ok(())
                    }
                },
                _ = term.recv() => Ok(()),
            };
        }
    }
    tokio::signal::ctrl_c().await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn sigterm_is_a_shutdown_signal() {
        let waiter = tokio::spawn(super::shutdown_signal());
        // One poll of the waiter installs its handlers; a current-thread runtime runs it on yield.
        tokio::task::yield_now().await;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let done = tokio::time::timeout(Duration::from_secs(10), waiter).await;
        assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
    }
}
