//! `bench fairness`: the paper's burst. Greedy tenants each create hundreds of pods at once
//! while regular tenants create a few pods one after the other (each waits for the previous to
//! be Running). The regular tenants' latency under the burst is compared with the same regular
//! workload alone.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::FairnessArgs;
use super::cluster::{self, BENCH_NS};
use super::env::Env;
use super::load::{self, Job, Plan, Target};
use super::prom::Sample;
use super::report::{self, Table, Target as Goal};
use super::runtimes::Runtimes;
use super::stats::{Summary, summarize};
use super::tracker::{Stamp, Tracker};

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
    // Both runs' pods stay.
    let capacity = args.greedy * args.greedy_pods + 2 * args.regular * args.regular_pods;
    let env = Env::start(rts, &args.common, &names, capacity, cluster::default_spec).await?;
    eprintln!("bench: regular tenants alone");
    let idle = workload(&env, &args, false).await?;
    eprintln!(
        "bench: regular tenants under a burst of {} × {} pods",
        args.greedy, args.greedy_pods
    );
    let burst = workload(&env, &args, true).await?;
    print_report(&args, &idle, &burst);
    env.finish(args.common.keep).await;
    Ok(())
}

/// The regular workload, with the greedy burst started at the same moment when `with_burst`.
async fn workload(env: &Env, args: &FairnessArgs, with_burst: bool) -> anyhow::Result<Outcome> {
    let greedy_pods = if with_burst {
        args.greedy * args.greedy_pods
    } else {
        0
    };
    let total = greedy_pods + args.regular * args.regular_pods;
    let run = if with_burst { "burst" } else { "idle" };
    let tracker = Tracker::new(run, total, Stamp::TenantRunning);
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
    let done = tracker.wait_all(env.timeout).await;
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

fn print_report(args: &FairnessArgs, idle: &Outcome, burst: &Outcome) {
    let reg_idle = idle.latency(idle.regular.clone(), Stamp::Created, Stamp::TenantRunning);
    let reg = burst.latency(burst.regular.clone(), Stamp::Created, Stamp::TenantRunning);
    let greedy = burst.latency(burst.greedy.clone(), Stamp::Created, Stamp::TenantRunning);
    let ratio = reg.p99_ms / reg_idle.p99_ms.max(1e-9);
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
    for (label, o) in [("idle", idle), ("burst", burst)] {
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
        "burst_s": burst.end_of(0..burst.tracker.len()),
    });
    println!("{json}");
}
