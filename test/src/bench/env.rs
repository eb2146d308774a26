//! One benchmark environment: working directory, super cluster, nodes, tenants and the syncer
//! process, plus the helpers every scenario uses (watches, CPU snapshots).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use crds::VirtualClusterSpec;
use futures::{StreamExt, TryStreamExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cli::Common;
use super::cluster::{self, BENCH_NS, SuperCluster, Tenant};
use super::procstat;
use super::runtimes::{self, Runtimes};
use super::syncer::{self, SyncerCommand, SyncerProcess};
use super::tracker::{Side, Tracker, spawn_watch};

/// Everything a scenario runs against.
pub struct Env {
    /// Working directory (kubeconfig, syncer log).
    pub dir: tempfile::TempDir,
    /// The super cluster.
    pub sup: SuperCluster,
    /// Simulated nodes (kept alive for the run).
    pub nodes: nodesim::NodesimHandle,
    /// Tenant control planes.
    pub tenants: Vec<Tenant>,
    /// How to (re)start the syncer.
    pub syncer_cmd: SyncerCommand,
    /// The running syncer.
    pub syncer: Option<SyncerProcess>,
    /// Overall wait limit.
    pub timeout: Duration,
    /// Simulated nodes.
    pub node_count: usize,
}

impl Env {
    /// Builds the environment for `tenant_names`, nodes for `capacity` pods at once, and waits
    /// until the syncer serves every tenant with nothing left to do.
    pub async fn start(
        rts: &Runtimes,
        common: &Common,
        tenant_names: &[String],
        capacity: usize,
        spec: impl Fn(&str) -> VirtualClusterSpec,
    ) -> anyhow::Result<Env> {
        let timeout = Duration::from_secs(common.timeout);
        let bin = syncer::locate(common.syncer_bin.clone(), common.no_build)?;
        let dir = tempfile::Builder::new().prefix("vc-bench-").tempdir()?;
        let t = Instant::now();
        let sup = cluster::start_super(rts, dir.path(), timeout).await?;
        let node_count = common.nodes_for(capacity);
        if node_count * (cluster::MAX_PODS_PER_NODE as usize) < capacity {
            eprintln!("bench: warning: {node_count} nodes cannot run {capacity} pods");
        }
        let nodes =
            cluster::start_nodes(rts, &sup, node_count, common.nodesim_workers, timeout).await?;
        eprintln!(
            "bench: super cluster and {node_count} nodes ready in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        let tenants = cluster::start_tenants(rts, &sup.client, tenant_names, spec, timeout).await?;
        eprintln!(
            "bench: {} tenants ready in {:.1}s",
            tenants.len(),
            t.elapsed().as_secs_f64()
        );
        let syncer_cmd = SyncerCommand {
            bin,
            kubeconfig: sup.kubeconfig.clone(),
            patrol_interval: common.patrol_interval.map(|s| s.max(1)),
            extra: common.syncer_args.clone(),
            log: dir.path().join("syncer.log"),
        };
        let mut env = Env {
            dir,
            sup,
            nodes,
            tenants,
            syncer_cmd,
            syncer: None,
            timeout,
            node_count,
        };
        let t = Instant::now();
        env.start_syncer().await?;
        cluster::wait_super_namespaces(&env.sup.client, &env.tenants, timeout).await?;
        env.syncer()?.wait_idle(timeout).await?;
        eprintln!(
            "bench: syncer serving every tenant in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        Ok(env)
    }

    /// Starts a syncer process (stopping the running one first) and waits until every tenant
    /// is healthy in it.
    pub async fn start_syncer(&mut self) -> anyhow::Result<()> {
        if let Some(old) = self.syncer.take() {
            old.kill()?;
        }
        let mut p = self.syncer_cmd.spawn()?;
        p.wait_tenants(self.tenants.len(), self.timeout)
            .await
            .with_context(|| format!("syncer log: {}", self.syncer_cmd.log.display()))?;
        self.syncer = Some(p);
        Ok(())
    }

    /// The running syncer.
    pub fn syncer(&self) -> anyhow::Result<&SyncerProcess> {
        self.syncer.as_ref().context("the syncer is not running")
    }

    /// Watches the super cluster's pods of `tracker`'s run.
    pub async fn watch_super(
        &self,
        tracker: &Arc<Tracker>,
        cancel: &CancellationToken,
    ) -> anyhow::Result<JoinHandle<()>> {
        let client = self.sup.client.clone();
        spawn_watch(
            client,
            "/api/v1/pods".into(),
            Side::Super,
            Arc::clone(tracker),
            cancel.child_token(),
        )
        .await
    }

    /// Watches the pods of `tracker`'s run in the tenants `which`.
    pub async fn watch_tenants(
        &self,
        which: impl Iterator<Item = usize>,
        tracker: &Arc<Tracker>,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Vec<JoinHandle<()>>> {
        let path = format!("/api/v1/namespaces/{BENCH_NS}/pods");
        let clients: Vec<kube::Client> = which
            .filter_map(|i| self.tenants.get(i).map(|t| t.client.clone()))
            .collect();
        futures::stream::iter(clients)
            .map(|c| {
                spawn_watch(
                    c,
                    path.clone(),
                    Side::Tenant,
                    Arc::clone(tracker),
                    cancel.child_token(),
                )
            })
            .buffer_unordered(16)
            .try_collect()
            .await
    }

    /// CPU used so far by each in-process component and the syncer.
    pub fn cpu(&self) -> anyhow::Result<CpuSnapshot> {
        Ok(CpuSnapshot {
            threads: procstat::threads_cpu()?,
            process: procstat::cpu_seconds(std::process::id())?,
            syncer: self.syncer()?.cpu()?,
        })
    }

    /// Stops the syncer, the nodes and the API servers; keeps the working directory (syncer
    /// log, kubeconfig) when asked.
    pub async fn finish(mut self, keep: bool) {
        if let Some(s) = self.syncer.take() {
            let _ = s.kill();
        }
        self.nodes.shutdown();
        let stops = self.tenants.into_iter().map(|t| t.server.shutdown());
        let _ =
            tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(stops)).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.sup.server.shutdown()).await;
        if keep {
            let path = self.dir.keep();
            eprintln!("bench: working directory kept at {}", path.display());
        }
    }
}

/// CPU seconds at one instant.
#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    threads: BTreeMap<String, f64>,
    process: f64,
    /// The syncer process.
    pub syncer: f64,
}

impl CpuSnapshot {
    /// CPU seconds per component from `self` to `later`: super, nodes, tenants, harness, other
    /// threads of this process, syncer.
    pub fn until(&self, later: &CpuSnapshot) -> Vec<(String, f64)> {
        let mut out = procstat::cpu_by_group(
            &self.threads,
            &later.threads,
            later.process - self.process,
            &[
                runtimes::SUPER,
                runtimes::NODES,
                runtimes::TENANTS,
                runtimes::HARNESS,
            ],
        );
        out.push(("syncer".into(), (later.syncer - self.syncer).max(0.0)));
        out
    }
}
