//! Syncer settings: defaults that work as they are, overridable by a YAML/JSON config file and
//! then by command-line flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML/JSON for these settings.
    #[error("parsing config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_yaml::Error,
    },
    /// A setting is out of range.
    #[error("invalid setting {field}: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Everything the syncer can be told. Durations are given in seconds in files and flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncerConfig {
    /// Kubeconfig of the super cluster; `None`: `KUBECONFIG`, then in-cluster config.
    pub kubeconfig: Option<PathBuf>,
    /// Workers processing downward work.
    pub down_workers: usize,
    /// Workers processing upward work.
    pub up_workers: usize,
    /// Default sustained sync operations per second per tenant (VC `sync.qps` overrides).
    pub tenant_qps: u32,
    /// Default burst per tenant (VC `sync.burst` overrides).
    pub tenant_burst: u32,
    /// Port of vn-agent on every super node, advertised as the virtual nodes' kubelet port.
    pub vn_agent_port: u16,
    /// Seconds between patrol scans.
    pub patrol_interval_secs: u64,
    /// Seconds a virtual node stays after the last tenant pod left it.
    pub vnode_gc_grace_secs: u64,
    /// Virtual nodes every tenant sees besides those its pods use: that many of the super
    /// nodes its placement allows (0: only nodes its pods run on).
    pub vnodes_before_pods: usize,
    /// Seconds between virtual node Lease renewals.
    pub lease_renew_secs: u64,
    /// Seconds between tenant API server health probes.
    pub health_interval_secs: u64,
    /// Seconds a tenant request may take before it counts as failed.
    pub tenant_timeout_secs: u64,
    /// Lifetime of service-account tokens requested from tenants, in seconds.
    pub token_ttl_secs: u64,
    /// Sync ingresses too.
    pub sync_ingresses: bool,
    /// Address of `/metrics`, `/healthz`, `/readyz` (port 0: any free port, logged at start).
    pub ops_addr: SocketAddr,
    /// Elect a leader on a Lease before syncing (for more than one replica).
    pub leader_election: bool,
    /// Namespace of the leader-election Lease (default: `POD_NAMESPACE`, else `vc-manager`).
    pub leader_election_namespace: Option<String>,
    /// Name of the leader-election Lease.
    pub leader_election_name: String,
    /// Give up a work item after this many failed attempts (it returns with the next change).
    pub max_retries: u32,
    /// Quota of tenants whose VirtualCluster sets no `spec.quota` (ResourceQuota names →
    /// quantities, e.g. `pods: "100"`); empty: unlimited.
    pub default_tenant_quota: BTreeMap<String, String>,
}

impl Default for SyncerConfig {
    fn default() -> Self {
        SyncerConfig {
            kubeconfig: None,
            down_workers: 16,
            up_workers: 16,
            tenant_qps: 5000,
            tenant_burst: 10000,
            vn_agent_port: 10550,
            patrol_interval_secs: 60,
            vnode_gc_grace_secs: 300,
            vnodes_before_pods: 2,
            lease_renew_secs: 10,
            health_interval_secs: 10,
            tenant_timeout_secs: 10,
            token_ttl_secs: 3600,
            sync_ingresses: false,
            ops_addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            leader_election: true,
            leader_election_namespace: None,
            leader_election_name: "vc-syncer".into(),
            max_retries: 15,
            default_tenant_quota: BTreeMap::new(),
        }
    }
}

impl SyncerConfig {
    /// Reads settings from a YAML or JSON file; missing fields keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg: SyncerConfig =
            serde_yaml::from_str(&text).map_err(|source| ConfigError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |field: &'static str, v: u64| {
            if v == 0 {
                Err(ConfigError::Invalid {
                    field,
                    reason: "must be at least 1".into(),
                })
            } else {
                Ok(())
            }
        };
        positive("downWorkers", self.down_workers as u64)?;
        positive("upWorkers", self.up_workers as u64)?;
        positive("tenantQps", u64::from(self.tenant_qps))?;
        positive("tenantBurst", u64::from(self.tenant_burst))?;
        positive("vnAgentPort", u64::from(self.vn_agent_port))?;
        positive("patrolIntervalSecs", self.patrol_interval_secs)?;
        positive("leaseRenewSecs", self.lease_renew_secs)?;
        positive("healthIntervalSecs", self.health_interval_secs)?;
        positive("tenantTimeoutSecs", self.tenant_timeout_secs)?;
        crate::quota::usage::parse_hard(&self.default_tenant_quota).map_err(|e| {
            ConfigError::Invalid {
                field: "defaultTenantQuota",
                reason: e.to_string(),
            }
        })?;
        if self.token_ttl_secs < 600 {
            return Err(ConfigError::Invalid {
                field: "tokenTtlSecs",
                reason: "must be at least 600 (the API server's minimum token lifetime)".into(),
            });
        }
        Ok(())
    }

    /// The patrol interval.
    pub fn patrol_interval(&self) -> Duration {
        Duration::from_secs(self.patrol_interval_secs)
    }

    /// The tenant request timeout.
    pub fn tenant_timeout(&self) -> Duration {
        Duration::from_secs(self.tenant_timeout_secs)
    }

    /// The leader-election Lease namespace.
    pub fn lease_namespace(&self) -> String {
        self.leader_election_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "vc-manager".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_rejects_typos() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("syncer.yaml");
        std::fs::write(&path, "vnAgentPort: 11000\npatrolIntervalSecs: 5\n").expect("write");
        let cfg = SyncerConfig::from_file(&path).expect("config");
        assert_eq!(cfg.vn_agent_port, 11000);
        assert_eq!(cfg.patrol_interval(), Duration::from_secs(5));
        assert_eq!(cfg.down_workers, SyncerConfig::default().down_workers);
        std::fs::write(&path, "vnAgentPrt: 1\n").expect("write");
        assert!(matches!(
            SyncerConfig::from_file(&path),
            Err(ConfigError::Parse { .. })
        ));
        std::fs::write(&path, "defaultTenantQuota: {pods: \"100\"}\n").expect("write");
        let cfg = SyncerConfig::from_file(&path).expect("config");
        assert_eq!(
            cfg.default_tenant_quota.get("pods").map(String::as_str),
            Some("100")
        );
        std::fs::write(&path, "defaultTenantQuota: {pods: lots}\n").expect("write");
        assert!(matches!(
            SyncerConfig::from_file(&path),
            Err(ConfigError::Invalid {
                field: "defaultTenantQuota",
                ..
            })
        ));
        std::fs::write(&path, "downWorkers: 0\n").expect("write");
        assert!(matches!(
            SyncerConfig::from_file(&path),
            Err(ConfigError::Invalid {
                field: "downWorkers",
                ..
            })
        ));
    }

    #[test]
    fn defaults_are_valid() {
        let cfg = SyncerConfig::default();
        assert_eq!(cfg.validate().ok(), Some(()));
        assert_eq!(cfg.vn_agent_port, 10550);
        assert_eq!(cfg.patrol_interval_secs, 60);
    }
}
