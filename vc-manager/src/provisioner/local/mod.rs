//! The `local` provisioner: the control plane runs next to vc-manager, listening on loopback
//! (or `--local-bind-address`). With a directory of upstream binaries it runs etcd,
//! kube-apiserver (and kube-controller-manager) as supervised child processes with the tenant's
//! PKI; otherwise it runs the embedded API server in-process with SQLite under the state
//! directory.
//!
//! State per tenant lives in `<state-dir>/<cluster-key>/`: `ports.json` (kept across restarts
//! so kubeconfigs stay valid), `pki/`, `etcd/` or `data/`, and `logs/`.

pub mod binaries;
pub mod embedded;
mod ports;
pub mod supervisor;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use sha2::{Digest, Sha256};

pub use ports::Ports;

use super::endpoints::{Endpoints, base_apiserver_names};
use super::error::ProvisionError;
use super::tenant::Tenant;
use crate::pki::PkiItem;
use crate::pki::secrets::read_string;
use crate::state::ControlPlane;
use binaries::Binaries;
use supervisor::Supervised;

/// How long one readiness probe of a local API server may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Configuration of the local provisioner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalConfig {
    /// Where tenant state lives.
    pub state_dir: PathBuf,
    /// A directory with `etcd`, `kube-apiserver` (and `kube-controller-manager`).
    pub binaries: Option<PathBuf>,
    /// Address the control planes listen on and advertise.
    pub bind_address: IpAddr,
}

/// What runs a tenant's control plane.
enum Runtime {
    /// The embedded API server, in this process.
    Embedded(Box<apiserver::ServerHandle>),
    /// Upstream binaries as supervised child processes.
    Processes(Vec<Supervised>),
}

struct Plane {
    fingerprint: String,
    runtime: Runtime,
    probe: Option<kube::Client>,
    server: String,
}

/// The local provisioner.
#[derive(Clone)]
pub struct Local {
    config: Arc<LocalConfig>,
    binaries: Option<Binaries>,
    planes: Arc<Mutex<HashMap<String, Plane>>>,
    failures: Arc<Mutex<HashMap<String, String>>>,
}

impl Local {
    /// A local provisioner; `Err` when the binaries directory lacks a binary.
    pub fn new(config: LocalConfig) -> Result<Self, String> {
        let binaries = match &config.binaries {
            Some(dir) => Some(Binaries::find(dir)?),
            None => None,
        };
        Ok(Local {
            config: Arc::new(config),
            binaries,
            planes: Arc::default(),
            failures: Arc::default(),
        })
    }

    fn dir(&self, cluster_key: &str) -> PathBuf {
        self.config.state_dir.join(cluster_key)
    }

    fn ports(&self, cluster_key: &str) -> Option<Ports> {
        let text = std::fs::read_to_string(self.dir(cluster_key).join("ports.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The control plane's address, once ports are allocated.
    pub fn endpoints(&self, t: &Tenant, extra_sans: &[String]) -> Option<Endpoints> {
        let ports = self.ports(t.namespace())?;
        let bind = self.config.bind_address;
        let mut names = base_apiserver_names(&t.spec, extra_sans);
        names.ips.insert(bind);
        // The embedded server insists on these for a loopback listener.
        names.add("::1");
        names.add("kubernetes.default.svc.cluster.local");
        let mut etcd = crate::pki::SubjectNames::default();
        etcd.add("localhost");
        etcd.add("127.0.0.1");
        etcd.ips.insert(bind);
        let server = match bind {
            IpAddr::V6(v6) => format!("https://[{v6}]:{}", ports.apiserver),
            v4 => format!("https://{v4}:{}", ports.apiserver),
        };
        Some(Endpoints {
            apiserver_names: names,
            etcd_names: etcd,
            internal_server: server.clone(),
            server,
        })
    }

    /// Allocates free ports and records them.
    pub fn prepare(&self, t: &Tenant) -> Result<(), ProvisionError> {
        let dir = self.dir(t.namespace());
        let io = |action: &str| {
            let action = format!("{action} {}", dir.display());
            move |source| ProvisionError::Io { action, source }
        };
        std::fs::create_dir_all(&dir).map_err(io("creating"))?;
        let bind = self.config.bind_address;
        let port = || free_port(bind).map_err(io("finding a free port for"));
        let ports = Ports {
            apiserver: port()?,
            etcd_client: port()?,
            etcd_peer: port()?,
            controller_manager: port()?,
        };
        let text = serde_json::to_string_pretty(&ports).unwrap_or_default();
        std::fs::write(dir.join("ports.json"), text).map_err(io("writing ports.json in"))
    }

    /// Starts the control plane, or restarts it when its PKI or settings changed.
    pub async fn apply(
        &self,
        t: &Tenant,
        secrets: &BTreeMap<String, Secret>,
    ) -> Result<bool, ProvisionError> {
        let key = t.namespace().to_string();
        let Some(ports) = self.ports(&key) else {
            return Err(ProvisionError::Local("ports are not allocated yet".into()));
        };
        let fingerprint = fingerprint(t, &ports, secrets);
        let old = {
            let mut planes = self.planes.lock().unwrap_or_else(|e| e.into_inner());
            match planes.get(&key) {
                Some(p) if p.fingerprint == fingerprint => return Ok(false),
                _ => planes.remove(&key),
            }
        };
        if let Some(old) = old {
            tracing::info!(tenant = %key, "restarting the local control plane with new settings");
            stop(old).await;
        }
        match self.start(t, &ports, secrets, fingerprint).await {
            Ok(plane) => {
                self.failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                self.planes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, plane);
                Ok(true)
            }
            Err(e) => {
                if let Some(taken) = port_in_use(&self.config, &ports) {
                    // Someone took a port since it was recorded: choose new ones next time.
                    tracing::warn!(tenant = %key, port = taken, "port taken; re-allocating");
                    let _ = std::fs::remove_file(self.dir(&key).join("ports.json"));
                }
                self.failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, e.to_string());
                Err(e)
            }
        }
    }

    async fn start(
        &self,
        t: &Tenant,
        ports: &Ports,
        secrets: &BTreeMap<String, Secret>,
        fingerprint: String,
    ) -> Result<Plane, ProvisionError> {
        let root = self.dir(t.namespace());
        let bind = self.config.bind_address;
        let probe = admin_client(secrets).await;
        let runtime = match &self.binaries {
            // Boxed: the server's start future is large, and reconcile futures live on small stacks.
            None => Runtime::Embedded(Box::new(
                Box::pin(embedded::start(t, ports, bind, &root, secrets)).await?,
            )),
            Some(bins) => {
                let io = |action: String| move |source| ProvisionError::Io { action, source };
                std::fs::create_dir_all(root.join("logs"))
                    .map_err(io(format!("creating {}/logs", root.display())))?;
                binaries::PkiFiles::new(root.join("pki"))
                    .write(secrets)
                    .map_err(io(format!("writing PKI files under {}", root.display())))?;
                let specs = binaries::processes(bins, t, ports, bind, &root);
                let processes = specs
                    .into_iter()
                    .map(|spec| {
                        // The controller-manager exits when the API server has not yet
                        // created its bootstrap RBAC (it cannot read the request-header CA):
                        // it starts once the API server is ready.
                        let gate = (spec.name == binaries::KUBE_CONTROLLER_MANAGER)
                            .then(|| probe.clone())
                            .flatten()
                            .map(|client| {
                                let gate: supervisor::Gate = Box::pin(until_ready(client));
                                (format!("{} /readyz", binaries::KUBE_APISERVER), gate)
                            });
                        Supervised::start_after(spec, gate)
                    })
                    .collect();
                Runtime::Processes(processes)
            }
        };
        let server = self.endpoints(t, &[]).map(|e| e.server).unwrap_or_default();
        Ok(Plane {
            fingerprint,
            runtime,
            probe,
            server,
        })
    }

    /// Whether the API server answers `/readyz`.
    pub async fn observe(&self, t: &Tenant) -> ControlPlane {
        let key = t.namespace();
        if let Some(message) = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
        {
            return ControlPlane::Failed {
                reason: "LocalStartFailed".into(),
                message: message.clone(),
            };
        }
        let (probe, server, down) = {
            let planes = self.planes.lock().unwrap_or_else(|e| e.into_inner());
            let Some(plane) = planes.get(key) else {
                return ControlPlane::Absent;
            };
            let processes: &[Supervised] = match &plane.runtime {
                Runtime::Processes(p) => p,
                Runtime::Embedded(_) => &[],
            };
            let down: Vec<String> = processes
                .iter()
                .filter_map(|p| {
                    let s = p.state();
                    (!s.running).then(|| match &s.waiting_for {
                        Some(what) => format!("{} waits for {what}", p.spec.name),
                        None => format!(
                            "{} is not running (restarts: {}, last exit: {})",
                            p.spec.name,
                            s.restarts,
                            s.last_exit.unwrap_or_else(|| "none yet".into())
                        ),
                    })
                })
                .collect();
            (plane.probe.clone(), plane.server.clone(), down)
        };
        if !down.is_empty() {
            return ControlPlane::Progressing {
                detail: format!(
                    "{}; logs in {}",
                    down.join("; "),
                    self.dir(key).join("logs").display()
                ),
            };
        }
        let Some(client) = probe else {
            return ControlPlane::Progressing {
                detail: "no admin kubeconfig to probe the API server with".into(),
            };
        };
        match readyz(&client).await {
            Ok(()) => ControlPlane::Ready { detail: server },
            Err(e) => ControlPlane::Progressing {
                detail: format!("{server}/readyz: {e}"),
            },
        }
    }

    /// Stops the tenant's control plane and removes its state.
    pub async fn teardown(&self, cluster_key: &str) -> Result<bool, ProvisionError> {
        let plane = self
            .planes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(cluster_key);
        if let Some(plane) = plane {
            stop(plane).await;
        }
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(cluster_key);
        let dir = self.dir(cluster_key);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(source) => Err(ProvisionError::Io {
                action: format!("removing {}", dir.display()),
                source,
            }),
        }
    }

    /// Whether a control plane runs for `cluster_key` in this process.
    pub fn is_running(&self, cluster_key: &str) -> bool {
        self.planes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(cluster_key)
    }

    /// Whether state is left on disk for `cluster_key`.
    pub fn has_state(&self, cluster_key: &str) -> bool {
        self.dir(cluster_key).exists()
    }

    /// Stops every control plane (vc-manager shutdown); state stays for the next start.
    pub async fn shutdown(&self) {
        let planes: Vec<Plane> = self
            .planes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, p)| p)
            .collect();
        for plane in planes {
            stop(plane).await;
        }
    }
}

async fn stop(plane: Plane) {
    match plane.runtime {
        Runtime::Embedded(server) => (*server).shutdown().await,
        Runtime::Processes(processes) => {
            // Reverse start order: controller-manager, API server, then etcd.
            for p in processes.into_iter().rev() {
                p.stop().await;
            }
        }
    }
}

/// A recorded port that another program now listens on.
fn port_in_use(config: &LocalConfig, ports: &Ports) -> Option<u16> {
    [
        ports.apiserver,
        ports.etcd_client,
        ports.etcd_peer,
        ports.controller_manager,
    ]
    .into_iter()
    .find(|p| TcpListener::bind((config.bind_address, *p)).is_err())
}

/// A port nobody listens on right now.
fn free_port(bind: IpAddr) -> std::io::Result<u16> {
    Ok(TcpListener::bind((bind, 0))?.local_addr()?.port())
}

/// Everything that requires a restart when it changes.
fn fingerprint(t: &Tenant, ports: &Ports, secrets: &BTreeMap<String, Secret>) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(ports).unwrap_or_default());
    h.update(t.spec.service_cidr.to_string());
    h.update(&t.spec.cluster_domain);
    for (name, hash) in super::native::secret_hashes(secrets) {
        h.update(name);
        h.update(hash);
    }
    hex::encode(h.finalize())
}

/// A client authenticated with the tenant's admin kubeconfig.
async fn admin_client(secrets: &BTreeMap<String, Secret>) -> Option<kube::Client> {
    let item = PkiItem::AdminKubeconfig;
    let text = read_string(secrets.get(item.secret_name())?, item.secret_name())?;
    crate::kube_client_from_kubeconfig(&text).await.ok()
}

/// Resolves once the API server answers `/readyz` with `ok`.
async fn until_ready(client: kube::Client) {
    while readyz(&client).await.is_err() {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn readyz(client: &kube::Client) -> Result<(), String> {
    let req = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(PROBE_TIMEOUT, client.request_text(req)).await {
        Ok(Ok(body)) if body.trim() == "ok" => Ok(()),
        Ok(Ok(body)) => Err(body.trim().to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
    }
}

/// The state directory of a tenant (for tests and `vcctl`).
pub fn tenant_dir(state_dir: &Path, cluster_key: &str) -> PathBuf {
    state_dir.join(cluster_key)
}
