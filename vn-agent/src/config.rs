//! vn-agent's configuration, as flags (and environment variables).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

impl From<LogFormat> for common::process::LogFormat {
    fn from(f: LogFormat) -> Self {
        match f {
            LogFormat::Json => common::process::LogFormat::Json,
            LogFormat::Text => common::process::LogFormat::Text,
        }
    }
}

/// Everything vn-agent needs to run.
#[derive(Clone, Debug, clap::Parser)]
#[command(
    name = "vn-agent",
    version,
    about = "Tenant-scoped kubelet API proxy: lets each virtual cluster reach only its own pods"
)]
pub struct Config {
    /// Address of the kubelet API served to tenant API servers (TLS, client certificate required).
    #[arg(long, env = "VN_AGENT_LISTEN", default_value = "0.0.0.0:10550")]
    pub listen: SocketAddr,

    /// Address of the plain-HTTP operations endpoint (/metrics, /healthz, /livez, /readyz).
    #[arg(
        long,
        env = "VN_AGENT_METRICS_BIND_ADDRESS",
        default_value = "0.0.0.0:10551"
    )]
    pub metrics_bind_address: SocketAddr,

    /// Serving certificate (PEM chain). Without it a self-signed one is generated, as the kubelet
    /// does.
    #[arg(
        long,
        env = "VN_AGENT_TLS_CERT_FILE",
        requires = "tls_private_key_file"
    )]
    pub tls_cert_file: Option<PathBuf>,

    /// Private key of the serving certificate (PEM).
    #[arg(
        long,
        env = "VN_AGENT_TLS_PRIVATE_KEY_FILE",
        requires = "tls_cert_file"
    )]
    pub tls_private_key_file: Option<PathBuf>,

    /// Client certificate vn-agent presents to kubelets (PEM).
    #[arg(
        long,
        env = "VN_AGENT_KUBELET_CLIENT_CERTIFICATE",
        requires = "kubelet_client_key"
    )]
    pub kubelet_client_certificate: Option<PathBuf>,

    /// Private key of the kubelet client certificate (PEM).
    #[arg(
        long,
        env = "VN_AGENT_KUBELET_CLIENT_KEY",
        requires = "kubelet_client_certificate"
    )]
    pub kubelet_client_key: Option<PathBuf>,

    /// CA bundle that kubelet serving certificates must chain to. Without it they are not
    /// verified, as kube-apiserver does without `--kubelet-certificate-authority`.
    #[arg(long, env = "VN_AGENT_KUBELET_CERTIFICATE_AUTHORITY")]
    pub kubelet_certificate_authority: Option<PathBuf>,

    /// The kubelet requests go to (ignored in local mode).
    #[arg(
        long,
        env = "VN_AGENT_KUBELET_URL",
        default_value = "https://127.0.0.1:10250"
    )]
    pub kubelet_url: String,

    /// Local mode: forward each request to the kubelet of the super node running the pod
    /// (its InternalIP and kubelet port), instead of to `--kubelet-url`.
    #[arg(long, env = "VN_AGENT_LOCAL_MODE")]
    pub local_mode: bool,

    /// Name of the super node this agent runs on; `/pods` lists only the tenant's pods bound to
    /// it (all of the tenant's pods when unset).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,

    /// Kubeconfig of the super cluster (else `KUBECONFIG`, then the in-cluster config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// Seconds a tenant's root CA stays cached before it is read again.
    #[arg(long, env = "VN_AGENT_CA_CACHE_TTL", default_value_t = 60)]
    pub ca_cache_ttl_seconds: u64,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

impl Config {
    /// Defaults for in-process use (e.g. `vcctl up` or tests): loopback listeners on free
    /// ports, everything else as the flags' defaults.
    pub fn local() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_bind_address: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_cert_file: None,
            tls_private_key_file: None,
            kubelet_client_certificate: None,
            kubelet_client_key: None,
            kubelet_certificate_authority: None,
            kubelet_url: "https://127.0.0.1:10250".to_string(),
            local_mode: false,
            node_name: None,
            kubeconfig: None,
            ca_cache_ttl_seconds: 60,
            log_format: LogFormat::Text,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn defaults_match_a_real_node() {
        let c = Config::try_parse_from(["vn-agent"]).unwrap();
        assert_eq!(c.listen.port(), 10550);
        assert_eq!(c.kubelet_url, "https://127.0.0.1:10250");
        assert!(!c.local_mode);
    }

    #[test]
    fn key_files_come_in_pairs() {
        assert!(Config::try_parse_from(["vn-agent", "--tls-cert-file", "a"]).is_err());
        assert!(Config::try_parse_from(["vn-agent", "--kubelet-client-certificate", "a"]).is_err());
        let c = Config::try_parse_from([
            "vn-agent",
            "--kubelet-client-certificate",
            "c",
            "--kubelet-client-key",
            "k",
            "--local-mode",
        ])
        .unwrap();
        assert!(c.local_mode);
    }
}
