//! The `bench sync` report: the table of figures against their targets and the JSON line.

use super::super::cli::SyncArgs;
use super::super::env::Env;
use super::super::prom::{self, Sample};
use super::super::report::{self, Table, Target as Goal};
use super::super::stats::Summary;
use super::super::tracker::Stamp;
use super::super::verify::Convergence;
use super::outcome::{Fresh, Restart, Run, Via};

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Prints the table and the final JSON line.
pub(super) fn print_report(
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
    let (b, a) = (&via.metrics_before, &via.metrics_after);
    let share_down = prom::pod_write_latency(b, a, "down", |_| true);
    let share_up = prom::pod_write_latency(b, a, "up", |_| true);
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
        "syncer_share_down_p50_ms": share_down.0 * 1000.0,
        "syncer_share_down_p99_ms": share_down.1 * 1000.0,
        "syncer_share_up_p50_ms": share_up.0 * 1000.0,
        "syncer_share_up_p99_ms": share_up.1 * 1000.0,
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
    for (dir, label) in [
        (
            "down",
            "syncer share down: tenant pod seen -> super write acked",
        ),
        (
            "up",
            "syncer share up: super status seen -> tenant status acked",
        ),
    ] {
        let (p50, p99) = prom::pod_write_latency(b, a, dir, |_| true);
        t.info(
            &format!("{label} p50 / p99 (ms)"),
            format!("{:.1} / {:.1}", p50 * 1000.0, p99 * 1000.0),
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
