//! `bench fairness`: the paper's burst. Greedy tenants each create hundreds of pods at once
//! while regular tenants create a few pods one after the other (each waits for the previous to
//! be Running). The regular tenants' latency under the burst is compared with the same regular
//! workload alone, and with the burst again once every greedy tenant has a pod quota
//! (`spec.quota.hard.pods`, set live on the VirtualClusters): the pods beyond it wait in the
//! tenant instead of reaching the super cluster.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use crds::VirtualCluster;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};

use super::cli::FairnessArgs;
use super::cluster::{self, BENCH_NS};
use super::env::Env;
use super::load::{self, Job, Plan, Target};
use super::prom::{self, Sample};
use super::report::{self, Table, Target as Goal};
use super::runtimes::Runtimes;
use super::stats::{Summary, summarize};
use super::tracker::{Stamp, Tracker};

/// Which of the three runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    /// The regular tenants alone.
    Idle,
    /// With the greedy burst.
    Burst,
    /// With the greedy burst, each greedy tenant under a pod quota.
    Quota,
}

impl Run {
    fn name(self) -> &'static str {
        match self {
            Run::Idle => "idle",
            Run::Burst => "burst",
            Run::Quota => "quota",
        }
    }
}

/// One run of the regular workload, with or without the burst.
struct Outcome {
    tracker: Arc<Tracker>,
    /// Slots of the regular tenants' pods.
    regular: std::ops::Range<usize>,
    /// Slots of the greedy tenants' pods (empty when idle).
    greedy: std::ops::Range<usize>,
    metrics_before: Vec<Sample>,
    metrics_after: Vec<Sample>,
}

impl Outcome {
    fn latency(&self, slots: std::ops::Range<usize>, from: Stamp, to: Stamp) -> Summary {
        summarize(self.tracker.latencies(from, to, slots))
    }

    fn end_of(&self, slots: std::ops::Range<usize>) -> f64 {
        slots
            .filter_map(|s| self.tracker.get(Stamp::TenantRunning, s))
            .max()
            .unwrap_or_default()
            .as_secs_f64()
    }
}

/// Runs the benchmark and prints the table and the JSON line.
pub async fn run(rts: &Runtimes, args: FairnessArgs) -> anyhow::Result<()> {
    let names: Vec<String> = (0..args.greedy)
        .map(|i| format!("greedy{i}"))
        .chain((0..args.regular).map(|i| format!("regular{i}")))
        .collect();
    // Every run's pods stay, except the unquota'd burst's, which go before the quota run.
    let capacity = args.greedy * args.greedy_pods + 3 * args.regular * args.regular_pods;
    let env = Env::start(rts, &args.common, &names, capacity, cluster::default_spec).await?;
    eprintln!("bench: regular tenants alone");
    let idle = workload(&env, &args, Run::Idle).await?;
    eprintln!(
        "bench: regular tenants under a burst of {} × {} pods",
        args.greedy, args.greedy_pods
    );
    let burst = workload(&env, &args, Run::Burst).await?;
    let quota = if args.greedy_quota > 0 {
        clear_greedy(&env, &args).await?;
        set_greedy_quota(&env, &args).await?;
        eprintln!(
            "bench: regular tenants under the burst again, each greedy tenant with quota pods={}",
            args.greedy_quota
        );
        Some(workload(&env, &args, Run::Quota).await?)
    } else {
        None
    };
    print_report(&args, &idle, &burst, quota.as_ref());
    env.finish(args.common.keep).await;
    Ok(())
}

/// Deletes the greedy tenants' pods and waits until they are gone (from the tenants, so from
/// the super cluster too).
async fn clear_greedy(env: &Env, args: &FairnessArgs) -> anyhow::Result<()> {
    for t in env.tenants.iter().take(args.greedy) {
        let api: Api<Pod> = Api::namespaced(t.client.clone(), BENCH_NS);
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await?;
    }
    let deadline = tokio::time::Instant::now() + env.timeout;
    for t in env.tenants.iter().take(args.greedy) {
        let api: Api<Pod> = Api::namespaced(t.client.clone(), BENCH_NS);
        loop {
            let left = api.list(&ListParams::default().limit(1)).await?.items.len();
            if left == 0 {
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the greedy tenant {}'s pods were not deleted in time",
                t.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Sets `spec.quota.hard.pods` on every greedy tenant's VirtualCluster (applied live).
async fn set_greedy_quota(env: &Env, args: &FairnessArgs) -> anyhow::Result<()> {
    let vcs: Api<VirtualCluster> = Api::namespaced(env.sup.client.clone(), cluster::VC_NAMESPACE);
    let body = serde_json::json!({
        "spec": {"quota": {"hard": {"pods": args.greedy_quota.to_string()}}}
    });
    for t in env.tenants.iter().take(args.greedy) {
        vcs.patch(&t.name, &PatchParams::default(), &Patch::Merge(&body))
            .await?;
    }
    Ok(())
}

/// The regular workload, with the greedy burst started at the same moment (except idle).
async fn workload(env: &Env, args: &FairnessArgs, mode: Run) -> anyhow::Result<Outcome> {
    let greedy_pods = if mode == Run::Idle {
        0
    } else {
        args.greedy * args.greedy_pods
    };
    let total = greedy_pods + args.regular * args.regular_pods;
    let with_burst = mode != Run::Idle;
    let tracker = Tracker::new(mode.name(), total, Stamp::TenantRunning);
    let cancel = tokio_util::sync::CancellationToken::new();
    env.watch_super(&tracker, &cancel).await?;
    let watched = if with_burst { 0 } else { args.greedy };
    env.watch_tenants(watched..env.tenants.len(), &tracker, &cancel)
        .await?;
    let bodies = load::bodies(&tracker);
    let syncer = env.syncer()?;
    let metrics_before = syncer.metrics().await?;
    let mut greedy = tokio::task::JoinSet::new();
    if with_burst {
        for g in 0..args.greedy {
            let plan = greedy_plan(env, args, g, Arc::clone(&bodies))?;
            let (tracker, c) = (Arc::clone(&tracker), args.concurrency);
            greedy.spawn(load::run(
                Arc::new(plan),
                tracker,
                c,
                Arc::new(AtomicUsize::new(0)),
            ));
        }
    }
    let regular = regulars(env, args, &tracker, &bodies, greedy_pods).await;
    while let Some(r) = greedy.join_next().await {
        r??;
    }
    let done = if mode == Run::Quota {
        // Only the admitted greedy pods run; the others wait in their tenant.
        let admitted = args.greedy * args.greedy_quota;
        wait_done(
            &tracker,
            admitted + args.regular * args.regular_pods,
            env.timeout,
        )
        .await
    } else {
        tracker.wait_all(env.timeout).await
    };
    cancel.cancel();
    regular?;
    done?;
    syncer.wait_idle(env.timeout).await?;
    Ok(Outcome {
        tracker,
        regular: greedy_pods..total,
        greedy: 0..greedy_pods,
        metrics_before,
        metrics_after: syncer.metrics().await?,
    })
}

/// Waits until `n` pods of the run are done.
async fn wait_done(tracker: &Tracker, n: usize, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tracker.done() < n {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "run {}: only {}/{n} pods done in {timeout:?}",
            tracker.run(),
            tracker.done()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Greedy tenant `g` creates its pods (slots `g*n..(g+1)*n`) with its own creations in flight.
fn greedy_plan(
    env: &Env,
    args: &FairnessArgs,
    g: usize,
    bodies: Arc<Vec<Vec<u8>>>,
) -> anyhow::Result<Plan> {
    let t = env
        .tenants
        .get(g)
        .ok_or_else(|| anyhow::anyhow!("no greedy tenant {g}"))?;
    let start = g * args.greedy_pods;
    Ok(Plan {
        targets: vec![Target::new(t.client.clone(), BENCH_NS)],
        jobs: (start..start + args.greedy_pods)
            .map(|slot| Job { target: 0, slot })
            .collect(),
        bodies,
    })
}

/// Every regular tenant creates its pods one at a time, each after the previous is Running.
async fn regulars(
    env: &Env,
    args: &FairnessArgs,
    tracker: &Arc<Tracker>,
    bodies: &Arc<Vec<Vec<u8>>>,
    first_slot: usize,
) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for r in 0..args.regular {
        let t = env
            .tenants
            .get(args.greedy + r)
            .ok_or_else(|| anyhow::anyhow!("no regular tenant {r}"))?;
        let target = Target::new(t.client.clone(), BENCH_NS);
        let (tracker, bodies) = (Arc::clone(tracker), Arc::clone(bodies));
        let (n, timeout) = (args.regular_pods, env.timeout);
        tasks.spawn(async move {
            for k in 0..n {
                let slot = first_slot + r * n + k;
                let body = bodies.get(slot).map(Vec::as_slice).unwrap_or_default();
                load::create_one(&target, body, &tracker, slot).await?;
                tracker.wait_slot(slot, timeout).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

/// Mean of a histogram over the series whose `tenant` label contains `class`, between scrapes.
fn class_mean(o: &Outcome, name: &str, class: &str, dir: &str) -> Option<f64> {
    let total = |m: &[Sample], suffix: &str| -> f64 {
        m.iter()
            .filter(|s| s.name == format!("{name}_{suffix}"))
            .filter(|s| s.label("direction") == Some(dir))
            .filter(|s| s.label("tenant").is_some_and(|t| t.contains(class)))
            .map(|s| s.value)
            .sum()
    };
    let n = total(&o.metrics_after, "count") - total(&o.metrics_before, "count");
    (n > 0.0)
        .then(|| (total(&o.metrics_after, "sum") - total(&o.metrics_before, "sum")) / n * 1000.0)
}

fn print_report(args: &FairnessArgs, idle: &Outcome, burst: &Outcome, quota: Option<&Outcome>) {
    let reg_idle = idle.latency(idle.regular.clone(), Stamp::Created, Stamp::TenantRunning);
    let reg = burst.latency(burst.regular.clone(), Stamp::Created, Stamp::TenantRunning);
    let greedy = burst.latency(burst.greedy.clone(), Stamp::Created, Stamp::TenantRunning);
    let ratio = reg.p99_ms / reg_idle.p99_ms.max(1e-9);
    let reg_quota =
        quota.map(|q| q.latency(q.regular.clone(), Stamp::Created, Stamp::TenantRunning));
    let admitted = quota.map(|q| {
        q.tracker
            .latencies(Stamp::Created, Stamp::TenantRunning, q.greedy.clone())
            .len()
    });
    let mut t = Table::default();
    t.section(&format!(
        "fairness: {} greedy × {} pods ({} in flight each), {} regular × {} sequential pods",
        args.greedy, args.greedy_pods, args.concurrency, args.regular, args.regular_pods
    ));
    t.info(
        "regular, idle: avg / p99 (ms)",
        format!("{:.1} / {:.1}", reg_idle.avg_ms, reg_idle.p99_ms),
    );
    t.info(
        "regular, under burst: avg / p99 (ms)",
        format!("{:.1} / {:.1}", reg.avg_ms, reg.p99_ms),
    );
    t.info(
        "greedy: avg / p99 (ms)",
        format!("{:.1} / {:.1}", greedy.avg_ms, greedy.p99_ms),
    );
    if let (Some(rq), Some(n)) = (&reg_quota, admitted) {
        t.info(
            &format!(
                "regular, under burst with greedy quota pods={}: avg / p99 (ms)",
                args.greedy_quota
            ),
            format!("{:.1} / {:.1}", rq.avg_ms, rq.p99_ms),
        );
        t.info(
            "regular p99: without / with quotas (ms)",
            format!("{:.1} / {:.1}", reg.p99_ms, rq.p99_ms),
        );
        t.info(
            "greedy pods running with quotas / created",
            format!("{n} / {}", args.greedy * args.greedy_pods),
        );
    }
    t.target(
        "regular p99 under burst / idle p99",
        ratio,
        2,
        Goal::AtMost(1.5),
        "",
    );
    t.info(
        "regular done / greedy done (s after start)",
        format!(
            "{:.2} / {:.2}",
            burst.end_of(burst.regular.clone()),
            burst.end_of(burst.greedy.clone())
        ),
    );
    for (label, o) in [
        ("idle", Some(idle)),
        ("burst", Some(burst)),
        ("quota", quota),
    ]
    .into_iter()
    .filter_map(|(l, o)| Some((l, o?)))
    {
        let seg = |from, to| o.latency(o.regular.clone(), from, to).p99_ms;
        t.info(
            &format!("regular {label}: p99 down / super / up (ms)"),
            format!(
                "{:.1} / {:.1} / {:.1}",
                seg(Stamp::Created, Stamp::SuperSeen),
                seg(Stamp::SuperSeen, Stamp::SuperRunning),
                seg(Stamp::SuperRunning, Stamp::TenantRunning)
            ),
        );
    }
    let regular = |t: &str| t.contains("regular");
    let mut share_p99 = [0.0f64; 2];
    for (i, (label, o)) in [("idle", idle), ("burst", burst)].into_iter().enumerate() {
        let (down50, down99) =
            prom::pod_write_latency(&o.metrics_before, &o.metrics_after, "down", regular);
        let (up50, up99) =
            prom::pod_write_latency(&o.metrics_before, &o.metrics_after, "up", regular);
        share_p99[i] = down99 + up99;
        t.info(
            &format!("syncer share, regular {label}: down p50 / p99, up p50 / p99 (ms)"),
            format!(
                "{:.1} / {:.1}, {:.1} / {:.1}",
                down50 * 1000.0,
                down99 * 1000.0,
                up50 * 1000.0,
                up99 * 1000.0
            ),
        );
    }
    let share_ratio = share_p99[1] / share_p99[0].max(1e-9);
    t.target(
        "syncer share: regular p99 (down + up) under burst / idle",
        share_ratio,
        2,
        Goal::AtMost(1.5),
        "",
    );
    for class in ["regular", "greedy"] {
        for dir in ["down", "up"] {
            t.info(
                &format!("syncer queue wait under burst, {class} {dir} (mean ms)"),
                format!(
                    "{:.2}",
                    class_mean(burst, "syncer_queue_wait_seconds", class, dir).unwrap_or(0.0)
                ),
            );
        }
    }
    println!("{}", t.render());
    println!("{}", report::machine_note());
    let json = serde_json::json!({
        "benchmark": "fairness",
        "greedy_tenants": args.greedy,
        "greedy_pods": args.greedy_pods,
        "regular_tenants": args.regular,
        "regular_pods": args.regular_pods,
        "regular_avg_ms": reg.avg_ms,
        "regular_p99_ms": reg.p99_ms,
        "greedy_avg_ms": greedy.avg_ms,
        "greedy_p99_ms": greedy.p99_ms,
        "regular_idle_avg_ms": reg_idle.avg_ms,
        "regular_idle_p99_ms": reg_idle.p99_ms,
        "fairness_ratio": ratio,
        "syncer_share_fairness_ratio": share_ratio,
        "greedy_quota": args.greedy_quota,
        "regular_quota_avg_ms": reg_quota.as_ref().map(|r| r.avg_ms),
        "regular_quota_p99_ms": reg_quota.as_ref().map(|r| r.p99_ms),
        "greedy_quota_running": admitted,
        "burst_s": burst.end_of(0..burst.tracker.len()),
    });
    println!("{json}");
}
