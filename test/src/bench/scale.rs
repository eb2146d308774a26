//! `bench scale`: how the syncer's cost grows with the number of pods. Pods are loaded through
//! the tenants in steps (10k, 30k, 100k by default); at each step, once every pod runs, the
//! syncer's steady RSS is read, then a fresh syncer is started over the loaded clusters to time
//! restart-to-converged, its RSS and its patrol scan. At the largest step the syncer is killed
//! in the middle of a burst and everything is checked: nothing lost, orphaned or duplicated.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;
use tokio_util::sync::CancellationToken;

use super::cli::ScaleArgs;
use super::cluster;
use super::env::Env;
use super::load::{self, Plan};
use super::prom::{self, Sample};
use super::report::{self, Table, Target as Goal};
use super::runtimes::Runtimes;
use super::sync::{patrol_scan, restart, tenant_targets};
use super::tracker::{Stamp, Tracker};
use super::verify::{self, Convergence};

/// What one step measured.
struct Step {
    pods: usize,
    load_s: f64,
    steady_rss: u64,
    converge_s: f64,
    fresh_rss: u64,
    scan_ms: f64,
    virtual_nodes: usize,
    lease_round_s: Option<f64>,
    convergence: Convergence,
}

/// Runs the benchmark and prints the table and the JSON line.
pub async fn run(rts: &Runtimes, args: ScaleArgs) -> anyhow::Result<()> {
    let names: Vec<String> = (0..args.tenants).map(|i| format!("t{i}")).collect();
    let largest = args.sizes.iter().copied().max().unwrap_or(0);
    let capacity = largest + args.restart_pods;
    let mut env = Env::start(rts, &args.common, &names, capacity, cluster::default_spec).await?;
    let base_rss = env.syncer()?.memory()?.rss;
    let mut steps = Vec::new();
    let mut runs: Vec<String> = Vec::new();
    let mut loaded = 0;
    for &size in &args.sizes {
        let run = format!("scale{size}");
        eprintln!("bench: loading {} pods (to {size})", size - loaded);
        let load_s = load_step(&env, &run, size - loaded, args.concurrency).await?;
        env.syncer()?.wait_idle(env.timeout).await?;
        let steady_rss = env.syncer()?.memory()?.rss;
        let upkeep = (
            virtual_nodes(&env).await?,
            lease_round_mean(&env.syncer()?.metrics().await?),
        );
        runs.push(run);
        let convergence = verify::check_runs(&env.sup.client, &env.tenants, &runs).await?;
        eprintln!("bench: {size} pods: restarting the syncer, timing patrol scans");
        let scan = patrol_scan(&mut env, args.common.scan_interval).await?;
        // Back to the usual patrol interval for the next load.
        env.start_syncer().await?;
        steps.push(Step {
            pods: size,
            load_s,
            steady_rss,
            converge_s: scan.converge_s,
            fresh_rss: scan.rss,
            scan_ms: scan.scan_ms,
            virtual_nodes: upkeep.0,
            lease_round_s: upkeep.1,
            convergence,
        });
        if let Some(step) = steps.last() {
            // Each step can take minutes at the larger sizes: report it as soon as it is known.
            eprintln!(
                "bench: {size} pods: load {:.1}s, steady RSS {:.1} MB, restart->converged {:.2}s, fresh RSS {:.1} MB, scan {:.1} ms, {} virtual nodes, mean tenant Lease round {:?} s",
                step.load_s,
                mb(step.steady_rss),
                step.converge_s,
                mb(step.fresh_rss),
                step.scan_ms,
                step.virtual_nodes,
                step.lease_round_s
            );
        }
        loaded = size;
    }
    eprintln!(
        "bench: killing the syncer in the middle of a {}-pod burst at {largest} pods",
        args.restart_pods
    );
    let kill = restart(&mut env, args.concurrency, args.restart_pods, &runs).await?;
    print_report(&args, base_rss, &steps, &kill);
    env.finish(args.common.keep).await;
    Ok(())
}

/// Creates `pods` pods of run `run` through the tenants and waits until all run there.
async fn load_step(env: &Env, run: &str, pods: usize, concurrency: usize) -> anyhow::Result<f64> {
    let tracker = Tracker::new(run, pods, Stamp::TenantRunning);
    let cancel = CancellationToken::new();
    env.watch_super(&tracker, &cancel).await?;
    env.watch_tenants(0..env.tenants.len(), &tracker, &cancel)
        .await?;
    let plan = Plan::round_robin(load::bodies(&tracker), tenant_targets(env), 0..pods);
    let progress = Arc::new(AtomicUsize::new(0));
    let created = load::run(Arc::new(plan), Arc::clone(&tracker), concurrency, progress).await;
    let done = match created {
        Ok(_) => tracker.wait_all(env.timeout).await,
        Err(e) => Err(e),
    };
    cancel.cancel();
    done?;
    Ok(tracker
        .span(Stamp::TenantRunning)
        .unwrap_or_default()
        .as_secs_f64())
}

/// Virtual nodes over every tenant, each one a Lease renewal per period (listed from the
/// tenant API servers).
async fn virtual_nodes(env: &Env) -> anyhow::Result<usize> {
    let lp = ListParams::default().labels(&format!("{}=true", crds::tenancy::LABEL_VIRTUAL_NODE));
    let mut total = 0;
    for t in &env.tenants {
        total += Api::<Node>::all(t.client.clone())
            .list_metadata(&lp)
            .await?
            .items
            .len();
    }
    Ok(total)
}

/// The mean time of a tenant's round of Lease renewals over the syncer's life, if one ended.
fn lease_round_mean(m: &[Sample]) -> Option<f64> {
    let rounds = prom::sum(m, "syncer_lease_round_seconds_count", &[]);
    (rounds > 0.0).then(|| prom::sum(m, "syncer_lease_round_seconds_sum", &[]) / rounds)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print_report(
    args: &ScaleArgs,
    base_rss: u64,
    steps: &[Step],
    kill: &super::sync::outcome::Restart,
) {
    let mut t = Table::default();
    t.section(&format!(
        "scale: {} tenants, steps {:?}",
        args.tenants, args.sizes
    ));
    t.info(
        "syncer RSS with no pods (MB)",
        format!("{:.1}", mb(base_rss)),
    );
    let per_pod = |rss: u64, pods: usize| rss.saturating_sub(base_rss) as f64 / pods.max(1) as f64;
    for s in steps {
        let n = s.pods;
        t.section(&format!("{n} pods"));
        t.info("load through the tenants (s)", format!("{:.1}", s.load_s));
        t.info(
            "steady RSS (MB) / per pod beyond no pods (B)",
            format!("{:.1} / {:.0}", mb(s.steady_rss), per_pod(s.steady_rss, n)),
        );
        t.info(
            "fresh syncer RSS (MB) / per pod (B)",
            format!("{:.1} / {:.0}", mb(s.fresh_rss), per_pod(s.fresh_rss, n)),
        );
        t.target(
            "fresh syncer start -> converged (s)",
            s.converge_s,
            2,
            Goal::AtMost(2.0),
            " s",
        );
        t.target(
            "patrol scan (ms, mean of 3)",
            s.scan_ms,
            1,
            Goal::AtMost(100.0),
            " ms",
        );
        t.info(
            "steady syncer: virtual nodes / mean tenant Lease round (s)",
            format!(
                "{} / {}",
                s.virtual_nodes,
                s.lease_round_s
                    .map_or_else(|| "no round ended".to_string(), |r| format!("{r:.2}"))
            ),
        );
        t.info(
            "tenant / super pods, missing, orphans",
            format!(
                "{} / {}, {}, {}",
                s.convergence.tenant_pods,
                s.convergence.super_pods,
                s.convergence.missing,
                s.convergence.orphans
            ),
        );
    }
    t.section(&format!(
        "SIGKILL after half of a {}-pod burst at {} pods",
        kill.pods,
        steps.last().map_or(0, |s| s.pods)
    ));
    t.info(
        "restart -> all Running (s)",
        format!("{:.2}", kill.converge_s),
    );
    for (label, c) in [
        ("burst", &kill.convergence),
        ("every earlier pod", &kill.earlier),
    ] {
        t.info(
            &format!("{label}: tenant / super pods, missing, orphans"),
            format!(
                "{} / {}, {}, {}",
                c.tenant_pods, c.super_pods, c.missing, c.orphans
            ),
        );
    }
    println!("{}", t.render());
    println!("{}", report::machine_note());
    let rows: Vec<serde_json::Value> = steps
        .iter()
        .map(|s| {
            serde_json::json!({
                "pods": s.pods,
                "steady_rss_mb": mb(s.steady_rss),
                "steady_bytes_per_pod": per_pod(s.steady_rss, s.pods),
                "fresh_bytes_per_pod": per_pod(s.fresh_rss, s.pods),
                "converge_s": s.converge_s,
                "patrol_scan_ms": s.scan_ms,
                "virtual_nodes": s.virtual_nodes,
                "lease_round_s": s.lease_round_s,
                "converged": s.convergence.ok(),
            })
        })
        .collect();
    let json = serde_json::json!({
        "benchmark": "scale",
        "tenants": args.tenants,
        "steps": rows,
        "kill_restart_s": kill.converge_s,
        "kill_exact": kill.convergence.ok() && kill.earlier.ok(),
    });
    println!("{json}");
}
