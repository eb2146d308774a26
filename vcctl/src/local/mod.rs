//! The whole system in one process: an embedded super cluster (SQLite state under the state
//! directory), simulated nodes in two node classes, vn-agent, the syncer, vc-manager with the
//! `local` provisioner, and VirtualClusters that are Running and run pods. This is what
//! `vcctl up` runs; tests embed it the same way.
//!
//! ```no_run
//! # async fn demo() -> Result<(), vcctl::local::LocalError> {
//! use vcctl::local::{LocalCluster, LocalOptions};
//! let handle = LocalCluster::start(LocalOptions::new(".vc")).await?;
//! println!("export KUBECONFIG={}", handle.tenant_kubeconfig("demo").display());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Requests to kubelets go tenant API server (its `kubelet-client` certificate, CN = cluster
//! key) → vn-agent (on the port the syncer advertises on virtual nodes; checks that
//! certificate against the tenant's `root-ca`) → the simulated kubelet of the pod's node
//! (vn-agent's client certificate, from a local CA that the kubelets trust).

mod components;
mod files;
pub mod options;
pub mod pki;
pub mod ports;
mod rbac;
pub mod record;
pub mod state;
pub mod steps;
pub mod tenants;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::Client;

pub use components::DEFAULT_CLUSTER_VERSION;
use components::{Identities, Parts};
use files::write_private;
pub use options::{
    COMPONENT_NAMESPACE, COMPONENTS, Component, DEFAULT_NODE_CLASSES, ExternalSuper, LocalOptions,
    default_pools,
};
pub use record::{Attributes, Recorded, RequestLog};
pub use state::{Listener, LocalState, TenantRecord};
pub use steps::{LocalError, NoProgress, Progress, Step};

/// Starts local instances.
#[derive(Debug)]
pub struct LocalCluster;

/// A running local instance.
pub struct LocalHandle {
    dir: PathBuf,
    opts: LocalOptions,
    state: LocalState,
    ready_after: Duration,
    parts: Parts,
    request_log: Option<RequestLog>,
}

impl std::fmt::Debug for LocalHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalHandle")
            .field("dir", &self.dir)
            .field("super_url", &self.state.super_url)
            .finish_non_exhaustive()
    }
}

impl LocalHandle {
    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What `state.json` records about this instance.
    pub fn state(&self) -> &LocalState {
        &self.state
    }

    /// Time from the start of [`LocalCluster::start`] until everything was ready.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// The super cluster's API URL.
    pub fn super_url(&self) -> &str {
        &self.state.super_url
    }

    /// The super cluster's admin kubeconfig file.
    pub fn super_kubeconfig(&self) -> PathBuf {
        self.state.super_kubeconfig.clone()
    }

    /// The admin kubeconfig file of tenant `name` (written once it was Running).
    pub fn tenant_kubeconfig(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.kubeconfig"))
    }

    /// An admin client of the super cluster.
    pub fn super_client(&self) -> Option<Client> {
        self.parts.admin.clone()
    }

    /// Stops the syncer (what a crash or a rolling update of its Deployment does); tenants
    /// and the super cluster keep running. [`LocalHandle::start_syncer`] starts it again.
    pub async fn stop_syncer(&mut self) {
        if let Some(s) = self.parts.syncer.take()
            && let Err(e) = s.shutdown().await
        {
            tracing::warn!(error = %e, "syncer stopped with an error");
        }
    }

    /// Starts the syncer again with the same identity and settings (nothing when it runs).
    pub async fn start_syncer(&mut self) -> Result<(), LocalError> {
        let failed = |e: String| LocalError::step(Step::Syncer, e);
        if self.parts.syncer.is_some() {
            return Ok(());
        }
        let (Some(ids), Some(port)) = (self.parts.ids.as_ref(), self.parts.vn_agent_port) else {
            return Err(failed("the instance did not start a syncer".into()));
        };
        let (syncer, _) = components::start_syncer(&self.opts, ids, port, &self.state)
            .await
            .map_err(failed)?;
        self.parts.syncer = Some(syncer);
        Ok(())
    }

    /// The distinct requests each component made to the super cluster, when recording.
    pub fn requests(&self) -> Vec<Recorded> {
        self.request_log
            .as_ref()
            .map(RequestLog::requests)
            .unwrap_or_default()
    }

    /// Stops every component (tenant control planes included; their data stays on disk) and
    /// records that the instance is no longer running.
    pub async fn shutdown(mut self) {
        self.parts.stop().await;
        self.state.pid = None;
        self.state.ready = false;
        if let Err(e) = self.state.save(&self.dir) {
            tracing::warn!(error = %e, "cannot record the stop in state.json");
        }
    }
}

impl LocalCluster {
    /// Starts everything and returns once every tenant is Running and has run a pod.
    /// Components started before a failing step are stopped again.
    pub async fn start(opts: LocalOptions) -> Result<LocalHandle, LocalError> {
        let t0 = Instant::now();
        let mut s = Starter {
            opts: &opts,
            parts: Parts::default(),
            state: LocalState::default(),
            previous: LocalState::default(),
        };
        let result = s.run().await.and_then(|()| {
            s.state.ready = true;
            s.state.ready_seconds = Some(t0.elapsed().as_secs_f64());
            s.save()
        });
        let Starter {
            mut parts,
            mut state,
            ..
        } = s;
        match result {
            Ok(()) => Ok(LocalHandle {
                dir: opts.dir.clone(),
                opts: opts.clone(),
                state,
                ready_after: t0.elapsed(),
                parts,
                request_log: opts.request_log.clone(),
            }),
            Err(e) => {
                parts.stop().await;
                if state.pid.take().is_some() {
                    let _ = state.save(&opts.dir);
                }
                Err(e)
            }
        }
    }
}

/// Runs `f` as `step`, reporting its progress and timing; `f` yields a value and a detail line.
async fn step<T, F>(progress: &dyn Progress, step: Step, f: F) -> Result<T, LocalError>
where
    F: std::future::Future<Output = Result<(T, String), String>>,
{
    progress.started(&step);
    let t0 = Instant::now();
    match f.await {
        Ok((v, detail)) => {
            progress.finished(&step, t0.elapsed(), &detail);
            Ok(v)
        }
        Err(cause) => {
            let e = LocalError::step(step.clone(), cause);
            progress.failed(&step, t0.elapsed(), &e);
            Err(e)
        }
    }
}

/// The start sequence; `state` is recorded as it grows so that `status`/`down` see a
/// starting instance too.
struct Starter<'a> {
    opts: &'a LocalOptions,
    parts: Parts,
    state: LocalState,
    previous: LocalState,
}

impl Starter<'_> {
    async fn run(&mut self) -> Result<(), LocalError> {
        self.claim_dir().await?;
        let pki = pki::KubeletPki::issue(&[self.opts.bind, IpAddr::from([127, 0, 0, 1])])
            .map_err(|e| LocalError::step(Step::SuperCluster, e))?;
        let (admin, admin_config, ids) = match &self.opts.super_cluster {
            Some(ext) => self.external_super(ext).await?,
            None => self.super_cluster(&pki).await?,
        };
        self.parts.admin = Some(admin.clone());
        let progress = self.opts.progress.as_ref();
        let cluster_version = step(progress, Step::Crds, components::install_crds(&admin)).await?;
        self.nodes(admin_config, &pki).await?;
        let vn_agent_port = self.vn_agent(&ids, &pki).await?;
        self.parts.vn_agent_port = Some(vn_agent_port);
        self.vc_manager(&admin, &ids).await?;
        // Tenants' control planes answer before the syncer starts watching them (after a
        // restart their VirtualClusters still say Running while vc-manager brings them back).
        let ready = futures::future::try_join_all(
            self.opts
                .tenants
                .iter()
                .map(|name| tenant_running(self.opts, &admin, name, &cluster_version)),
        )
        .await?;
        self.syncer(&ids, vn_agent_port).await?;
        self.parts.ids = Some(ids);
        futures::future::try_join_all(ready.iter().map(|t| tenant_pods(self.opts, t))).await?;
        for t in ready {
            self.state.tenants.insert(
                t.name.clone(),
                TenantRecord {
                    namespace: t.namespace,
                    cluster_key: t.cluster_key,
                    kubeconfig: t.kubeconfig_path,
                    server: t.server,
                },
            );
        }
        Ok(())
    }

    fn save(&self) -> Result<(), LocalError> {
        self.state
            .save(&self.opts.dir)
            .map_err(|e| LocalError::step(Step::StateDir, e))
    }

    fn listen(&mut self, name: &str, addr: SocketAddr, serves: &str) {
        self.state.listeners.insert(
            name.into(),
            Listener {
                addr: addr.to_string(),
                serves: serves.to_string(),
            },
        );
    }

    /// The state directory is usable and no other instance runs on it.
    async fn claim_dir(&mut self) -> Result<(), LocalError> {
        let dir = self.opts.dir.clone();
        let previous = step(
            self.opts.progress.as_ref(),
            Step::StateDir,
            prepare_dir(&dir),
        )
        .await?;
        if let Some(pid) = previous.as_ref().and_then(LocalState::live_pid)
            && pid != std::process::id()
        {
            return Err(LocalError::AlreadyRunning { pid, dir });
        }
        self.previous = previous.unwrap_or_default();
        self.state.pid = Some(std::process::id());
        self.state.started_at = Some(jiff::Timestamp::now().to_string());
        self.state.super_kubeconfig = dir.join("super.kubeconfig");
        self.save()
    }

    /// An existing super cluster: its admin kubeconfig and one identity per component.
    async fn external_super(
        &mut self,
        ext: &ExternalSuper,
    ) -> Result<(Client, kube::Config, Identities), LocalError> {
        let found = step(self.opts.progress.as_ref(), Step::SuperCluster, async {
            let config = components::kube_config(&ext.admin_kubeconfig)
                .await
                .map_err(|e| format!("the admin kubeconfig: {e}"))?;
            let url = config.cluster_url.to_string();
            let admin = Client::try_from(config.clone()).map_err(|e| e.to_string())?;
            let version = admin
                .apiserver_version()
                .await
                .map_err(|e| format!("{url} does not answer: {e}"))?;
            let ids = Identities::from_kubeconfigs(
                &ext.component_kubeconfigs,
                self.opts.request_log.as_ref(),
            )
            .await?;
            let detail = format!("{url} (existing, {})", version.git_version);
            Ok(((admin, config, ids, url), detail))
        })
        .await?;
        let (admin, config, ids, url) = found;
        self.state.super_url = url.trim_end_matches('/').to_string();
        write_private(&self.state.super_kubeconfig, &ext.admin_kubeconfig)
            .map_err(|e| LocalError::step(Step::SuperCluster, e))?;
        self.save()?;
        Ok((admin, config, ids))
    }

    async fn super_cluster(
        &mut self,
        pki: &pki::KubeletPki,
    ) -> Result<(Client, kube::Config, Identities), LocalError> {
        let progress = self.opts.progress.as_ref();
        let server = step(
            progress,
            Step::SuperCluster,
            components::start_super(self.opts, pki),
        )
        .await?;
        let failed = |e| LocalError::step(Step::SuperCluster, e);
        self.state.super_url = server.url().to_string();
        self.listen(
            "super-apiserver",
            server.addr(),
            "super cluster API (HTTPS)",
        );
        write_private(&self.state.super_kubeconfig, server.kubeconfig_yaml()).map_err(failed)?;
        rbac::apply(&server.state()).await.map_err(failed)?;
        let admin = server.client();
        let config = server.kube_config();
        let ids = Identities::issue(&server, self.opts.request_log.as_ref())
            .await
            .map_err(failed)?;
        self.parts.server = Some(server);
        self.save()?;
        Ok((admin, config, ids))
    }

    async fn nodes(
        &mut self,
        admin_config: kube::Config,
        pki: &pki::KubeletPki,
    ) -> Result<(), LocalError> {
        let (nodesim, names) = step(
            self.opts.progress.as_ref(),
            Step::Nodes,
            components::start_nodes(self.opts, admin_config, pki, &self.previous),
        )
        .await?;
        self.listen(
            "nodesim-kubelet",
            nodesim.kubelet_addr(),
            "kubelet API of every simulated node (HTTPS, mTLS)",
        );
        self.state.nodes = names;
        self.parts.nodesim = Some(nodesim);
        Ok(())
    }

    /// Starts vn-agent; returns its port (the one virtual nodes advertise).
    async fn vn_agent(
        &mut self,
        ids: &Identities,
        pki: &pki::KubeletPki,
    ) -> Result<u16, LocalError> {
        let files = pki
            .write_vn_agent_files(&self.opts.dir.join("pki"))
            .map_err(|e| LocalError::step(Step::VnAgent, e))?;
        let agent = step(
            self.opts.progress.as_ref(),
            Step::VnAgent,
            components::start_agent(self.opts, ids, &files, &self.previous),
        )
        .await?;
        self.listen(
            "vn-agent",
            agent.local_addr(),
            "kubelet API for tenant API servers (HTTPS, mTLS)",
        );
        self.listen(
            "vn-agent-ops",
            agent.ops_addr(),
            "vn-agent /metrics /healthz /readyz",
        );
        let port = agent.local_addr().port();
        self.parts.agent = Some(agent);
        Ok(port)
    }

    async fn vc_manager(&mut self, admin: &Client, ids: &Identities) -> Result<(), LocalError> {
        if self.opts.leader_election {
            components::ensure_namespace(admin, COMPONENT_NAMESPACE)
                .await
                .map_err(|e| LocalError::step(Step::VcManager, e))?;
        }
        let manager = step(
            self.opts.progress.as_ref(),
            Step::VcManager,
            components::start_manager(self.opts, ids, &self.previous),
        )
        .await?;
        if let Some(addr) = manager.ops_addr() {
            self.listen(
                "vc-manager-ops",
                addr,
                "vc-manager /metrics /healthz /readyz",
            );
        }
        self.parts.manager = Some(manager);
        self.save()
    }

    async fn syncer(&mut self, ids: &Identities, vn_agent_port: u16) -> Result<(), LocalError> {
        let syncer = step(
            self.opts.progress.as_ref(),
            Step::Syncer,
            components::start_syncer(self.opts, ids, vn_agent_port, &self.previous),
        )
        .await?;
        self.listen(
            "syncer-ops",
            syncer.ops_addr(),
            "syncer /metrics /healthz /readyz",
        );
        self.parts.syncer = Some(syncer);
        self.save()
    }
}

async fn prepare_dir(dir: &Path) -> Result<(Option<LocalState>, String), String> {
    let hint = "choose another directory with --dir";
    std::fs::create_dir_all(dir)
        .map_err(|e| steps::explain_io(&format!("cannot create {}", dir.display()), &e, hint))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok")
        .map_err(|e| steps::explain_io(&format!("cannot write to {}", dir.display()), &e, hint))?;
    let _ = std::fs::remove_file(&probe);
    let previous = LocalState::load(dir).map_err(|e| e.to_string())?;
    let detail = match &previous {
        Some(_) => format!("{} (resuming)", dir.display()),
        None => format!("{} (new)", dir.display()),
    };
    Ok((previous, detail))
}

async fn tenant_running(
    opts: &LocalOptions,
    admin: &Client,
    name: &str,
    cluster_version: &str,
) -> Result<tenants::ReadyTenant, LocalError> {
    let ns = opts.vc_namespace.as_str();
    step(
        opts.progress.as_ref(),
        Step::TenantRunning(name.into()),
        async {
            components::ensure_namespace(admin, ns).await?;
            tenants::ensure_vc(admin, ns, name, cluster_version).await?;
            let t = tenants::wait_running(admin, ns, name, &opts.dir, opts.tenant_timeout).await?;
            let detail = format!("API {}", t.server);
            Ok((t, detail))
        },
    )
    .await
}

async fn tenant_pods(opts: &LocalOptions, tenant: &tenants::ReadyTenant) -> Result<(), LocalError> {
    step(
        opts.progress.as_ref(),
        Step::TenantPods(tenant.name.clone()),
        async {
            let client = vc_manager::kube_client_from_kubeconfig(&tenant.kubeconfig).await?;
            let node = tenants::probe(&client, opts.tenant_timeout).await?;
            Ok(((), format!("probe pod ran on {node}")))
        },
    )
    .await
}
