//! Smoke test of the benchmark harness itself: tiny runs of `bench sync` and `bench fairness`
//! (the syncer as its own process, built by the harness) print every figure and converge.
//! Figures are never asserted against targets.

use std::process::Command;

fn run_bench(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .output()
        .expect("running bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| metric"), "no table in:\n{stdout}");
    let last = stdout.lines().last().expect("output");
    serde_json::from_str(last).expect("final JSON line")
}

fn positive(v: &serde_json::Value, key: &str) -> f64 {
    let x = v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"));
    assert!(x.is_finite() && x > 0.0, "{key} = {x} in {v}");
    x
}

#[test]
fn sync_quick_reports_every_figure_and_converges() {
    let v = run_bench(&["sync", "--quick", "--tenants", "2", "--pods", "20"]);
    for key in [
        "direct_s",
        "via_syncer_s",
        "overhead_ratio",
        "pods_per_s",
        "p50_ms",
        "p99_ms",
        "syncer_peak_rss_mb",
        "restart_converge_s",
        "patrol_scan_ms",
    ] {
        positive(&v, key);
    }
    for key in ["syncer_cpu_s", "cpu_ms_per_pod", "bytes_per_pod"] {
        assert!(v[key].as_f64().is_some_and(|x| x >= 0.0), "{key} in {v}");
    }
    assert_eq!(v["pods"], 20);
    assert_eq!(v["converged"], true, "{v}");
    let ratio = v["via_syncer_s"].as_f64().unwrap() / v["direct_s"].as_f64().unwrap();
    assert!((ratio - v["overhead_ratio"].as_f64().unwrap()).abs() < 1e-6);
}

#[test]
fn fairness_quick_reports_latencies_and_ratio() {
    let v = run_bench(&[
        "fairness",
        "--quick",
        "--greedy",
        "1",
        "--greedy-pods",
        "10",
        "--regular",
        "2",
        "--regular-pods",
        "2",
    ]);
    for key in [
        "regular_avg_ms",
        "regular_p99_ms",
        "greedy_avg_ms",
        "greedy_p99_ms",
        "regular_idle_avg_ms",
        "regular_idle_p99_ms",
        "fairness_ratio",
    ] {
        positive(&v, key);
    }
    let ratio = v["regular_p99_ms"].as_f64().unwrap() / v["regular_idle_p99_ms"].as_f64().unwrap();
    assert!((ratio - v["fairness_ratio"].as_f64().unwrap()).abs() < 1e-6);
}
