//! `bench sync`: the paper's throughput experiment. The same pods are first created directly in
//! the super cluster (baseline), then through the tenants; then the syncer is killed in the
//! middle of a burst and restarted; the patrol scan time is read from the syncer's metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use tokio_util::sync::CancellationToken;

pub(super) mod outcome;
mod print;

use outcome::{Fresh, Restart, Run, Via};

use super::cli::SyncArgs;
use super::cluster::{self, BENCH_NS, eventually};
use super::env::Env;
use super::load::{self, Plan, Target};
use super::prom::{self, Sample};
use super::runtimes::Runtimes;
use super::syncer::SyncerCommand;
use super::tracker::{RUN_LABEL, Stamp, Tracker};
use super::verify;

/// Runs the benchmark and prints the table and the JSON line.
pub async fn run(rts: &Runtimes, args: SyncArgs) -> anyhow::Result<()> {
    let names: Vec<String> = (0..args.tenants).map(|i| format!("t{i}")).collect();
    let restart_pods = args.restart_pods();
    // The baseline's pods are deleted before the second run.
    let capacity = args.pods + restart_pods;
    let mut env = Env::start(rts, &args.common, &names, capacity, cluster::default_spec).await?;
    eprintln!(
        "bench: baseline, {} pods directly in the super cluster",
        args.pods
    );
    let direct = direct(&env, &args).await?;
    eprintln!("bench: {} pods through {} tenants", args.pods, args.tenants);
    let via = via(&env, &args).await?;
    eprintln!("bench: restart in the middle of a {restart_pods}-pod burst");
    let earlier = ["sync".to_string()];
    let restart = restart(&mut env, args.concurrency, restart_pods, &earlier).await?;
    eprintln!(
        "bench: patrol scans (a syncer patrolling every {}s)",
        args.common.scan_interval
    );
    let scan = patrol_scan(&mut env, args.common.scan_interval).await?;
    let (patrol, fresh) = (
        scan.scan_ms,
        Fresh {
            rss: scan.rss,
            pods: args.pods + restart_pods,
        },
    );
    print::print_report(&env, &args, &direct, &via, patrol, &restart, &fresh);
    env.finish(args.common.keep).await;
    Ok(())
}

/// Creates the pods of `plan` and waits until every one is done in `tracker`; CPU per component.
async fn drive(
    env: &Env,
    tracker: &Arc<Tracker>,
    plan: Plan,
    concurrency: usize,
) -> anyhow::Result<Run> {
    let before = env.cpu()?;
    let progress = Arc::new(AtomicUsize::new(0));
    let created = load::run(Arc::new(plan), Arc::clone(tracker), concurrency, progress).await?;
    tracker.wait_all(env.timeout).await?;
    let after = env.cpu()?;
    let end = if tracker.get(Stamp::TenantRunning, 0).is_some() {
        Stamp::TenantRunning
    } else {
        Stamp::SuperRunning
    };
    Ok(Run {
        tracker: Arc::clone(tracker),
        created,
        wall_s: tracker.span(end).unwrap_or_default().as_secs_f64(),
        cpu: before.until(&after),
    })
}

/// The baseline: the same number of pods, same concurrency, directly in the super cluster (one
/// namespace per tenant), until all are Running there.
async fn direct(env: &Env, args: &SyncArgs) -> anyhow::Result<Run> {
    let nss: Vec<String> = (0..args.tenants).map(|i| format!("direct-{i}")).collect();
    futures::stream::iter(&nss)
        .map(|ns| async move {
            cluster::create_namespace(&env.sup.client, ns).await?;
            cluster::wait_default_sa(&env.sup.client, ns, env.timeout).await
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    let tracker = Tracker::new("direct", args.pods, Stamp::SuperRunning);
    let cancel = CancellationToken::new();
    env.watch_super(&tracker, &cancel).await?;
    let targets = nss
        .iter()
        .map(|ns| Target::new(env.sup.client.clone(), ns))
        .collect();
    let plan = Plan::round_robin(load::bodies(&tracker), targets, 0..args.pods);
    let run = drive(env, &tracker, plan, args.concurrency).await;
    cancel.cancel();
    let run = run?;
    remove_direct(env, &nss).await?;
    Ok(run)
}

/// Deletes the baseline pods (grace 0) and waits until they are gone, so the second run starts
/// from the same empty super cluster.
async fn remove_direct(env: &Env, nss: &[String]) -> anyhow::Result<()> {
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    for ns in nss {
        Api::<Pod>::namespaced(env.sup.client.clone(), ns)
            .delete_collection(&dp, &ListParams::default())
            .await
            .with_context(|| format!("deleting the pods of {ns}"))?;
    }
    let all: Api<Pod> = Api::all(env.sup.client.clone());
    let lp = ListParams::default()
        .labels(&format!("{RUN_LABEL}=direct"))
        .limit(1);
    eventually("baseline pods deleted", env.timeout, || async {
        all.list_metadata(&lp)
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await
}

/// Pods created in the tenants, round robin, until each is Running in its tenant.
async fn via(env: &Env, args: &SyncArgs) -> anyhow::Result<Via> {
    let tracker = Tracker::new("sync", args.pods, Stamp::TenantRunning);
    let cancel = CancellationToken::new();
    env.watch_super(&tracker, &cancel).await?;
    env.watch_tenants(0..env.tenants.len(), &tracker, &cancel)
        .await?;
    let targets = tenant_targets(env);
    let plan = Plan::round_robin(load::bodies(&tracker), targets, 0..args.pods);
    let syncer = env.syncer()?;
    let rss_before = syncer.memory()?.rss;
    let metrics_before = syncer.metrics().await?;
    let run = drive(env, &tracker, plan, args.concurrency).await;
    cancel.cancel();
    let run = run?;
    syncer.wait_idle(env.timeout).await?;
    let metrics_after = syncer.metrics().await?;
    let mem = syncer.memory()?;
    let convergence = verify::check(&env.sup.client, &env.tenants, "sync").await?;
    Ok(Via {
        run,
        rss_before,
        rss_after: mem.rss,
        peak_rss: mem.peak,
        metrics_before,
        metrics_after,
        convergence,
    })
}

pub(super) fn tenant_targets(env: &Env) -> Vec<Target> {
    env.tenants
        .iter()
        .map(|t| Target::new(t.client.clone(), BENCH_NS))
        .collect()
}

/// A syncer started with every pod already in place: how long it took to converge, its RSS
/// once idle, and its patrol scan time.
pub(super) struct Rescan {
    /// Start → every tenant healthy (caches synced) and the syncer idle (s).
    pub(super) converge_s: f64,
    /// RSS once idle.
    pub(super) rss: u64,
    /// Mean of three patrol scans (ms).
    pub(super) scan_ms: f64,
}

/// Mean time of three patrol scans with every pod in the caches, timed by a syncer restarted
/// with a short patrol interval (a short interval during the runs would charge scans to them).
pub(super) async fn patrol_scan(env: &mut Env, interval: u64) -> anyhow::Result<Rescan> {
    let cmd = SyncerCommand {
        patrol_interval: Some(interval.max(1)),
        ..env.syncer_cmd.clone()
    };
    if let Some(old) = env.syncer.take() {
        old.kill()?;
    }
    let started = std::time::Instant::now();
    let mut syncer = cmd.spawn()?;
    syncer.wait_tenants(env.tenants.len(), env.timeout).await?;
    syncer.wait_idle(env.timeout).await?;
    // wait_idle needs three quiet scrapes 300 ms apart to tell; they are not convergence.
    let converge_s = (started.elapsed().as_secs_f64() - 0.9).max(0.0);
    let rss = syncer.memory()?.rss;
    let before = syncer.metrics().await?;
    let count = |m: &[Sample]| prom::sum(m, "syncer_patrol_duration_seconds_count", &[]);
    let c0 = count(&before);
    let wait = Duration::from_secs(interval * 4 + 60);
    let after = eventually("three patrol scans", wait, || async {
        let m = syncer.metrics().await.ok()?;
        (count(&m) >= c0 + 3.0).then_some(m)
    })
    .await?;
    env.syncer = Some(syncer);
    let scan_ms = prom::hist_mean_between(&before, &after, "syncer_patrol_duration_seconds", &[])
        .map(|s| s * 1000.0)
        .context("no patrol scan observed")?;
    Ok(Rescan {
        converge_s,
        rss,
        scan_ms,
    })
}

/// Kills the syncer (SIGKILL) once half of a burst is created, restarts it at once, and times
/// until every pod of the burst is Running in its tenant; then checks nothing was lost,
/// orphaned or duplicated, in this burst and the `earlier` runs.
pub(super) async fn restart(
    env: &mut Env,
    concurrency: usize,
    pods: usize,
    earlier: &[String],
) -> anyhow::Result<Restart> {
    let tracker = Tracker::new("restart", pods, Stamp::TenantRunning);
    let cancel = CancellationToken::new();
    env.watch_super(&tracker, &cancel).await?;
    env.watch_tenants(0..env.tenants.len(), &tracker, &cancel)
        .await?;
    let plan = Plan::round_robin(load::bodies(&tracker), tenant_targets(env), 0..pods);
    let progress = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(load::run(
        Arc::new(plan),
        Arc::clone(&tracker),
        concurrency,
        Arc::clone(&progress),
    ));
    while progress.load(Ordering::Relaxed) < pods / 2 && !load.is_finished() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let old = env.syncer.take().context("the syncer is not running")?;
    let (created, running) = (progress.load(Ordering::Relaxed), tracker.done());
    old.kill()?;
    let restarted_at = tracker.now();
    let mut fresh = env.syncer_cmd.spawn()?;
    let tenants = env.tenants.len();
    let (serving, done) = tokio::join!(
        serving_after(&fresh, tenants, &tracker, env.timeout),
        async {
            load.await??;
            tracker.wait_all(env.timeout).await
        }
    );
    cancel.cancel();
    done?;
    let serving_at = serving?;
    let converged_at = tracker.last(Stamp::TenantRunning).unwrap_or_default();
    fresh.wait_tenants(tenants, env.timeout).await?;
    fresh.wait_idle(env.timeout).await?;
    env.syncer = Some(fresh);
    Ok(Restart {
        pods,
        in_flight_at_kill: created.saturating_sub(running),
        serving_s: serving_at.saturating_sub(restarted_at).as_secs_f64(),
        converge_s: converged_at.saturating_sub(restarted_at).as_secs_f64(),
        convergence: verify::check(&env.sup.client, &env.tenants, "restart").await?,
        earlier: verify::check_runs(&env.sup.client, &env.tenants, earlier).await?,
    })
}

/// When (on the tracker's clock) the restarted syncer reports every tenant healthy, i.e. its
/// caches of every tenant are synced. Scrapes every 500 ms: `/metrics` is large.
async fn serving_after(
    syncer: &super::syncer::SyncerProcess,
    tenants: usize,
    tracker: &Tracker,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let start = std::time::Instant::now();
    loop {
        if let Ok(m) = syncer.metrics().await
            && prom::count_equal(&m, "syncer_tenant_healthy", 1.0) >= tenants
        {
            return Ok(tracker.now());
        }
        anyhow::ensure!(
            start.elapsed() < timeout,
            "restarted syncer never served every tenant"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
