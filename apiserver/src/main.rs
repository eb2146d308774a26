//! `apiserver`: runs the embedded Kubernetes-compatible API server.

/// mimalloc: the server allocates many short-lived JSON values per request.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "apiserver",
    version,
    about = "Embedded Kubernetes-compatible API server (serves the v1.33 API)"
)]
struct Args {
    /// Address and port to serve HTTPS on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Persist objects in SQLite in this directory (absent: in memory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Write an admin kubeconfig to this file.
    #[arg(long)]
    write_kubeconfig: Option<PathBuf>,
    /// Keep the CA and serving certificate here (default: <data-dir>/pki, else in memory).
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Service clusterIP range.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: String,
    /// Static bearer tokens, upstream format: token,user,uid,"group1,group2".
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Extra subject alternative names for the serving certificate (comma-separated).
    #[arg(long, value_delimiter = ',')]
    tls_san: Vec<String>,
    /// Client certificate presented to kubelets (PEM).
    #[arg(long)]
    kubelet_client_certificate: Option<PathBuf>,
    /// Key of the kubelet client certificate (PEM).
    #[arg(long)]
    kubelet_client_key: Option<PathBuf>,
    /// CA that kubelet serving certificates must chain to (default: not verified).
    #[arg(long)]
    kubelet_certificate_authority: Option<PathBuf>,
    /// Control loops to run: `*`, `name`, `-name` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "*")]
    controllers: Vec<String>,
    /// Service-account token issuer.
    #[arg(long, default_value = apiserver::tokens::DEFAULT_ISSUER)]
    service_account_issuer: String,
    /// Log format: json or text.
    #[arg(long, default_value = "json")]
    log_format: String,
    /// Read-only requests served at once; beyond, 429 (0: no limit).
    #[arg(long, default_value_t = 400)]
    max_requests_inflight: usize,
    /// Mutating requests served at once; beyond, 429 (0: no limit).
    #[arg(long, default_value_t = 200)]
    max_mutating_requests_inflight: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    let args = Args::parse();
    common::process::init_tracing(if args.log_format == "text" {
        common::process::LogFormat::Text
    } else {
        common::process::LogFormat::Json
    });
    let mut b = apiserver::ServerBuilder::new()
        .listen(args.listen)
        .service_cluster_ip_range(&args.service_cluster_ip_range)
        .extra_sans(args.tls_san.clone())
        .controllers(args.controllers.clone())
        .service_account_issuer(&args.service_account_issuer)
        .limits(apiserver::limits::Limits {
            max_requests_inflight: args.max_requests_inflight,
            max_mutating_requests_inflight: args.max_mutating_requests_inflight,
            ..Default::default()
        });
    if let Some(d) = &args.data_dir {
        b = b.data_dir(d);
    }
    if let Some(d) = &args.cert_dir {
        b = b.cert_dir(d);
    }
    if let Some(f) = &args.token_auth_file {
        b = b.token_auth_file(f);
    }
    match (&args.kubelet_client_certificate, &args.kubelet_client_key) {
        (Some(c), Some(k)) => {
            let cert =
                std::fs::read_to_string(c).map_err(|e| anyhow::anyhow!("{}: {e}", c.display()))?;
            let key =
                std::fs::read_to_string(k).map_err(|e| anyhow::anyhow!("{}: {e}", k.display()))?;
            b = b.kubelet_client_cert(cert, key);
        }
        (None, None) => {}
        _ => anyhow::bail!(
            "--kubelet-client-certificate and --kubelet-client-key must be given together"
        ),
    }
    if let Some(ca) = &args.kubelet_certificate_authority {
        let pem =
            std::fs::read_to_string(ca).map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?;
        b = b.kubelet_certificate_authority(pem);
    }
    let server = b.start().await?;
    if let Some(path) = &args.write_kubeconfig {
        std::fs::write(path, server.kubeconfig_yaml())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        tracing::info!(path = %path.display(), "wrote kubeconfig");
    }
    tracing::info!(url = server.url(), "serving");
    common::process::shutdown_signal().await?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
