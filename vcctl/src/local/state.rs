//! `<dir>/state.json`: what a running (or stopped) local instance left behind, so that
//! `vcctl status`, `vcctl down` and the next `vcctl up` find its process and listeners.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the state record inside the state directory.
pub const STATE_FILE: &str = "state.json";

/// Errors reading or writing the state record.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The file is not a state record.
    #[error("{path} is not a vcctl state file: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

/// One listener of the instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// `host:port`.
    pub addr: String,
    /// What it serves, for people reading the file or `vcctl status`.
    pub serves: String,
}

/// One tenant of the instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// VirtualCluster namespace.
    pub namespace: String,
    /// Cluster key (root namespace in the super cluster).
    pub cluster_key: String,
    /// Its admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// Its API server.
    pub server: String,
}

/// The record in `state.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalState {
    /// Process id of the running `vcctl up` (absent once it stopped).
    pub pid: Option<u32>,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// Whether every step finished (the instance is usable).
    pub ready: bool,
    /// Seconds from start to ready, once ready.
    pub ready_seconds: Option<f64>,
    /// The super cluster's API.
    pub super_url: String,
    /// Admin kubeconfig of the super cluster.
    pub super_kubeconfig: PathBuf,
    /// Listeners by component (`super-apiserver`, `nodesim-kubelet`, `vn-agent`, ...).
    pub listeners: BTreeMap<String, Listener>,
    /// Tenants by VirtualCluster name.
    pub tenants: BTreeMap<String, TenantRecord>,
    /// Names of the simulated super nodes.
    pub nodes: Vec<String>,
}

impl LocalState {
    /// The path of the record in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Reads the record of `dir`; `None` when there is none yet.
    pub fn load(dir: &Path) -> Result<Option<LocalState>, StateError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    action: "reading",
                    path,
                    source,
                });
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| StateError::Parse { path, source })
    }

    /// Writes the record atomically (a reader never sees half a file).
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = Self::path(dir);
        let tmp = dir.join(format!(".{STATE_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).map_err(|source| StateError::Parse {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&tmp, text).map_err(|source| StateError::Io {
            action: "writing",
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| StateError::Io {
            action: "writing",
            path,
            source,
        })
    }

    /// The recorded port of listener `name`, if any.
    pub fn port(&self, name: &str) -> Option<u16> {
        let addr = &self.listeners.get(name)?.addr;
        addr.rsplit_once(':')?.1.parse().ok()
    }

    /// The pid of a `vcctl up` that is still alive, if the record names one.
    pub fn live_pid(&self) -> Option<u32> {
        self.pid.filter(|p| process_alive(*p))
    }
}

/// Whether process `pid` exists (signal 0 probes without delivering anything).
pub fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        // It exists but belongs to someone else.
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_ports() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LocalState::load(dir.path()).unwrap(), None);
        let mut s = LocalState {
            pid: Some(std::process::id()),
            super_url: "https://127.0.0.1:6443".into(),
            ..LocalState::default()
        };
        s.listeners.insert(
            "vn-agent".into(),
            Listener {
                addr: "127.0.0.1:40123".into(),
                serves: "kubelet API for tenants".into(),
            },
        );
        s.save(dir.path()).unwrap();
        let back = LocalState::load(dir.path()).unwrap().unwrap();
        assert_eq!(back, s);
        assert_eq!(back.port("vn-agent"), Some(40123));
        assert_eq!(back.port("syncer"), None);
        assert_eq!(back.live_pid(), Some(std::process::id()));
    }

    #[test]
    fn garbage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "not json").unwrap();
        let err = LocalState::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("state.json"), "{err}");
    }

    #[test]
    fn dead_pids_are_not_alive() {
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }
}
