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

use super::SyncArgs;
use super::cluster::{self, BENCH_NS, eventually};
use super::env::Env;
use super::load::{self, Created, Plan, Target};
use super::prom::{self, Sample};
use super::report::{self, Table, Target as Goal};
use super::runtimes::Runtimes;
use super::stats::{Summary, summarize};
use super::syncer::SyncerCommand;
use super::tracker::{RUN_LABEL, Stamp, Tracker};
use super::verify::{self, Convergence};

/// A finished run of pods.
struct Run {
    tracker: Arc<Tracker>,
    created: Created,
    wall_s: f64,
    cpu: Vec<(String, f64)>,
}

impl Run {
    fn latency(&self, from: Stamp, to: Stamp) -> Summary {
        summarize(self.tracker.latencies(from, to, 0..self.tracker.len()))
    }

    fn cpu_of(&self, component: &str) -> f64 {
        self.cpu
            .iter()
            .find(|(k, _)| k == component)
            .map_or(0.0, |(_, v)| *v)
    }
}

/// The through-the-syncer run with what the syncer used for it.
struct Via {
    run: Run,
    rss_before: u64,
    rss_after: u64,
    peak_rss: u64,
    metrics_before: Vec<Sample>,
    metrics_after: Vec<Sample>,
    convergence: Convergence,
}

/// A syncer started with every pod already there, once idle.
struct Fresh {
    rss: u64,
    pods: usize,
}

/// The restart experiment.
struct Restart {
    pods: usize,
    in_flight_at_kill: usize,
    serving_s: f64,
    converge_s: f64,
    convergence: Convergence,
    earlier: Convergence,
}

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
    let restart = restart(&mut env, &args, restart_pods).await?;
    eprintln!(
        "bench: patrol scans (a syncer patrolling every {}s)",
        args.common.scan_interval
    );
    let (patrol, fresh_rss) = patrol_scan(&mut env, args.common.scan_interval).await?;
    let fresh = Fresh {
        rss: fresh_rss,
        pods: args.pods + restart_pods,
    };
    print_report(&env, &args, &direct, &via, patrol, &restart, &fresh);
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

fn tenant_targets(env: &Env) -> Vec<Target> {
    env.tenants
        .iter()
        .map(|t| Target::new(t.client.clone(), BENCH_NS))
        .collect()
}

/// Mean time of three patrol scans with every pod in the caches, timed by a syncer restarted
/// with a short patrol interval (a short interval during the runs would charge scans to them).
async fn patrol_scan(env: &mut Env, interval: u64) -> anyhow::Result<(f64, u64)> {
    let cmd = SyncerCommand {
        patrol_interval: Some(interval.max(1)),
        ..env.syncer_cmd.clone()
    };
    if let Some(old) = env.syncer.take() {
        old.kill()?;
    }
    let mut syncer = cmd.spawn()?;
    syncer.wait_tenants(env.tenants.len(), env.timeout).await?;
    syncer.wait_idle(env.timeout).await?;
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
    let ms = prom::hist_mean_between(&before, &after, "syncer_patrol_duration_seconds", &[])
        .map(|s| s * 1000.0)
        .context("no patrol scan observed")?;
    Ok((ms, rss))
}

/// Kills the syncer (SIGKILL) once half of a burst is created, restarts it at once, and times
/// until every pod of the burst is Running in its tenant; then checks nothing was lost,
/// orphaned or duplicated, in this burst and the earlier run.
async fn restart(env: &mut Env, args: &SyncArgs, pods: usize) -> anyhow::Result<Restart> {
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
        args.concurrency,
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
        earlier: verify::check(&env.sup.client, &env.tenants, "sync").await?,
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

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print_report(
    env: &Env,
    args: &SyncArgs,
    direct: &Run,
    via: &Via,
    patrol_ms: f64,
    restart: &Restart,
    fresh: &Fresh,
) {
    let pods = args.pods as f64;
    let overhead = via.run.wall_s / direct.wall_s.max(1e-9);
    let pods_per_s = pods / via.run.wall_s.max(1e-9);
    let lat = via.run.latency(Stamp::Created, Stamp::TenantRunning);
    let syncer_cpu = via.run.cpu_of("syncer");
    let cpu_ms_per_pod = syncer_cpu * 1000.0 / pods;
    let bytes_per_pod = via.rss_after.saturating_sub(via.rss_before) as f64 / pods;
    let mut t = Table::default();
    t.section(&format!(
        "sync: {} tenants, {} pods, {} in flight, {} nodes",
        args.tenants, args.pods, args.concurrency, env.node_count
    ));
    t.info("direct: all Running (s)", format!("{:.2}", direct.wall_s));
    t.info(
        "direct: pods/s",
        format!("{:.0}", pods / direct.wall_s.max(1e-9)),
    );
    latency_rows(
        &mut t,
        "direct",
        &direct.latency(Stamp::Created, Stamp::SuperRunning),
    );
    let d = |from, to| direct.latency(from, to);
    t.info(
        "  create -> pod exists / exists -> Running p50 (ms)",
        format!(
            "{:.1} / {:.1}",
            d(Stamp::Created, Stamp::SuperSeen).p50_ms,
            d(Stamp::SuperSeen, Stamp::SuperRunning).p50_ms
        ),
    );
    t.info(
        "via syncer: all Running in tenants (s)",
        format!("{:.2}", via.run.wall_s),
    );
    t.target(
        "overhead (via / direct)",
        overhead,
        2,
        Goal::AtMost(1.10),
        "x",
    );
    t.target(
        "pods/s through the syncer",
        pods_per_s,
        0,
        Goal::AtLeast(2000.0),
        "",
    );
    t.info(
        "create -> tenant Running p50 (ms)",
        format!("{:.1}", lat.p50_ms),
    );
    t.info(
        "create -> tenant Running p99 (ms)",
        format!("{:.1}", lat.p99_ms),
    );
    breakdown_rows(&mut t, &via.run);
    t.info(
        "create retries (direct / via)",
        format!("{} / {}", direct.created.retries, via.run.created.retries),
    );
    t.section("syncer process (through-the-syncer run)");
    t.info("CPU (s)", format!("{syncer_cpu:.2}"));
    t.target(
        "CPU per pod (ms)",
        cpu_ms_per_pod,
        3,
        Goal::AtMost(0.5),
        " ms",
    );
    t.info("peak RSS (MB)", format!("{:.1}", mb(via.peak_rss)));
    t.info(
        "RSS before / after (MB)",
        format!("{:.1} / {:.1}", mb(via.rss_before), mb(via.rss_after)),
    );
    t.target(
        "RSS growth per pod (bytes)",
        bytes_per_pod,
        0,
        Goal::AtMost(4096.0),
        " B",
    );
    let fresh_per_pod = fresh.rss.saturating_sub(via.rss_before) as f64 / fresh.pods as f64;
    t.info(
        "fresh syncer holding every pod: RSS (MB) / per pod (B)",
        format!("{:.1} / {fresh_per_pod:.0}", mb(fresh.rss)),
    );
    t.target(
        "patrol scan (ms, mean of 3)",
        patrol_ms,
        1,
        Goal::AtMost(100.0),
        " ms",
    );
    internals_rows(&mut t, via);
    t.section("CPU seconds by component (direct / via)");
    for ((name, d), (_, v)) in direct.cpu.iter().zip(&via.run.cpu) {
        t.info(name, format!("{d:.2} / {v:.2}"));
    }
    t.section(&format!(
        "restart: SIGKILL after half of a {}-pod burst",
        restart.pods
    ));
    t.info(
        "pods created, not yet Running at the kill",
        restart.in_flight_at_kill,
    );
    t.info(
        "restart -> every tenant's caches synced (s)",
        format!("{:.2}", restart.serving_s),
    );
    t.target(
        "restart -> all Running (s)",
        restart.converge_s,
        2,
        Goal::AtMost(2.0),
        " s",
    );
    convergence_row(
        &mut t,
        "burst: tenant / super pods, missing, orphans",
        &restart.convergence,
    );
    convergence_row(&mut t, "earlier run after restart", &restart.earlier);
    convergence_row(&mut t, "through-the-syncer run", &via.convergence);
    println!("{}", t.render());
    println!("{}", report::machine_note());
    let json = serde_json::json!({
        "benchmark": "sync",
        "tenants": args.tenants,
        "pods": args.pods,
        "concurrency": args.concurrency,
        "direct_s": direct.wall_s,
        "via_syncer_s": via.run.wall_s,
        "overhead_ratio": overhead,
        "pods_per_s": pods_per_s,
        "p50_ms": lat.p50_ms,
        "p99_ms": lat.p99_ms,
        "syncer_cpu_s": syncer_cpu,
        "cpu_ms_per_pod": cpu_ms_per_pod,
        "syncer_peak_rss_mb": mb(via.peak_rss),
        "bytes_per_pod": bytes_per_pod,
        "restart_converge_s": restart.converge_s,
        "patrol_scan_ms": patrol_ms,
        "fresh_bytes_per_pod": fresh.rss.saturating_sub(via.rss_before) as f64 / fresh.pods as f64,
        "converged": via.convergence.ok() && restart.convergence.ok() && restart.earlier.ok(),
    });
    println!("{json}");
}

fn latency_rows(t: &mut Table, what: &str, s: &Summary) {
    t.info(
        &format!("{what}: create -> Running p50 / p99 (ms)"),
        format!("{:.1} / {:.1}", s.p50_ms, s.p99_ms),
    );
}

/// Where a pod's time goes: tenant create → super copy → super Running → tenant Running.
fn breakdown_rows(t: &mut Table, run: &Run) {
    let parts = [
        (
            "  down: create -> super pod exists",
            Stamp::Created,
            Stamp::SuperSeen,
        ),
        (
            "  super: exists -> super Running",
            Stamp::SuperSeen,
            Stamp::SuperRunning,
        ),
        (
            "  up: super Running -> tenant Running",
            Stamp::SuperRunning,
            Stamp::TenantRunning,
        ),
    ];
    for (label, from, to) in parts {
        let s = run.latency(from, to);
        t.info(
            &format!("{label} p50 / p99 (ms)"),
            format!("{:.1} / {:.1}", s.p50_ms, s.p99_ms),
        );
    }
}

/// The syncer's own view of the run, from its metrics.
fn internals_rows(t: &mut Table, via: &Via) {
    let (b, a) = (&via.metrics_before, &via.metrics_after);
    for dir in ["down", "up"] {
        let wait =
            prom::hist_mean_between(b, a, "syncer_queue_wait_seconds", &[("direction", dir)]);
        let sync = prom::hist_mean_between(
            b,
            a,
            "syncer_sync_duration_seconds",
            &[("direction", dir), ("resource", "pods")],
        );
        t.info(
            &format!("{dir}: mean queue wait / pod reconcile (ms)"),
            format!(
                "{:.2} / {:.2}",
                wait.unwrap_or(0.0) * 1000.0,
                sync.unwrap_or(0.0) * 1000.0
            ),
        );
    }
    let ops = |dir: &str, resource: &str| {
        prom::sum(
            a,
            "syncer_operations_total",
            &[("direction", dir), ("resource", resource)],
        ) - prom::sum(
            b,
            "syncer_operations_total",
            &[("direction", dir), ("resource", resource)],
        )
    };
    t.info(
        "reconciles: down pods / up pods / up nodes / up events",
        format!(
            "{:.0} / {:.0} / {:.0} / {:.0}",
            ops("down", "pods"),
            ops("up", "pods"),
            ops("up", "nodes"),
            ops("up", "events")
        ),
    );
    t.info("reconciles that failed, by kind", failures(b, a));
    t.info("patrol repairs during the run", repairs(b, a));
}

/// Patrol repairs between two scrapes by resource and action, e.g. `pods/create 3`.
fn repairs(before: &[Sample], after: &[Sample]) -> String {
    let mut kinds: Vec<(&str, &str)> = after
        .iter()
        .filter(|s| s.name == "syncer_patrol_repairs_total")
        .filter_map(|s| Some((s.label("resource")?, s.label("action")?)))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let parts: Vec<String> = kinds
        .into_iter()
        .filter_map(|(r, a)| {
            let with = [("resource", r), ("action", a)];
            let n = prom::sum(after, "syncer_patrol_repairs_total", &with)
                - prom::sum(before, "syncer_patrol_repairs_total", &with);
            (n > 0.0).then(|| format!("{r}/{a} {n:.0}"))
        })
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// Non-successful reconcile results between two scrapes, e.g. `waiting 3, conflict 1`.
fn failures(before: &[Sample], after: &[Sample]) -> String {
    const OK: [&str; 4] = ["created", "updated", "deleted", "unchanged"];
    let mut kinds: Vec<&str> = after
        .iter()
        .filter(|s| s.name == "syncer_operations_total")
        .filter_map(|s| s.label("result"))
        .filter(|r| !OK.contains(r))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let parts: Vec<String> = kinds
        .into_iter()
        .filter_map(|k| {
            let with = [("result", k)];
            let n = prom::sum(after, "syncer_operations_total", &with)
                - prom::sum(before, "syncer_operations_total", &with);
            (n > 0.0).then(|| format!("{k} {n:.0}"))
        })
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn convergence_row(t: &mut Table, label: &str, c: &Convergence) {
    t.info(
        label,
        format!(
            "{} / {}, {}, {}{}",
            c.tenant_pods,
            c.super_pods,
            c.missing,
            c.orphans,
            if c.ok() { "" } else { "  NOT CONVERGED" }
        ),
    );
}
