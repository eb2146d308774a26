//! `apiserver-bench`: measures the embedded API server — pod creates/s with 1 and 8 concurrent
//! clients (memory and SQLite), create latency percentiles, watch events/s delivered to 100
//! watchers, and RSS per stored pod. Prints a table and a final JSON line; never fails on
//! targets.

/// mimalloc: the server allocates many short-lived JSON values per request.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use apiserver::ServerBuilder;
use clap::Parser;
use http_body_util::BodyExt;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(
    name = "apiserver-bench",
    about = "Benchmark of the embedded API server"
)]
struct Args {
    /// Pods created per create run.
    #[arg(long, default_value_t = 4000)]
    pods: usize,
    /// Pods stored for the memory measurement.
    #[arg(long, default_value_t = 10_000)]
    rss_pods: usize,
    /// Concurrent watchers.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Pods created while the watchers watch.
    #[arg(long, default_value_t = 2000)]
    watch_pods: usize,
    /// Run only these parts (create, watch, rss); all when empty.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

fn pod_body(ns: &str, name: &str) -> Vec<u8> {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench", "tier": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
    })
    .to_string()
    .into_bytes()
}

async fn create(client: &kube::Client, ns: &str, body: Vec<u8>) -> Result<Duration, String> {
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("/api/v1/namespaces/{ns}/pods"))
        .header("content-type", "application/json")
        .body(kube::client::Body::from(body))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let resp = client.send(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let _ = resp.into_body().collect().await;
    if status.as_u16() != 201 {
        return Err(format!("create answered {status}"));
    }
    Ok(start.elapsed())
}

struct CreateRun {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn create_run(storage: &str, clients: usize, pods: usize) -> Result<CreateRun, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut b = ServerBuilder::new().controllers(vec!["serviceaccount".into()]);
    if storage == "sqlite" {
        b = b.data_dir(dir.path());
    }
    let srv = b.start().await.map_err(|e| e.to_string())?;
    let client = srv.client();
    wait_for_sa(&client).await?;
    let per_client = pods / clients;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        // One client (one connection) per worker, as separate clients would have.
        let client = kube::Client::try_from(srv.kube_config()).map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client {
                lat.push(
                    create(
                        &client,
                        "default",
                        pod_body("default", &format!("p-{c}-{i}")),
                    )
                    .await?,
                );
            }
            Ok::<_, String>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    let secs = start.elapsed().as_secs_f64();
    drop(client);
    srv.shutdown().await;
    all.sort();
    let pct =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    Ok(CreateRun {
        per_sec: all.len() as f64 / secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

/// Status patches per second, as kubelets send them (8 clients).
async fn status_run(pods: usize) -> Result<(f64, f64), String> {
    let srv = ServerBuilder::new()
        .controllers(vec!["serviceaccount".into()])
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let client = srv.client();
    wait_for_sa(&client).await?;
    let clients = 8;
    let per = pods / clients;
    for c in 0..clients {
        for i in 0..per {
            create(
                &client,
                "default",
                pod_body("default", &format!("s-{c}-{i}")),
            )
            .await?;
        }
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = kube::Client::try_from(srv.kube_config()).map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let body =
                    json!({"status": {"phase": "Running", "podIP": format!("10.0.{c}.{}", i % 250),
                    "conditions": [{"type": "Ready", "status": "True"}]}})
                    .to_string();
                let req = http::Request::builder()
                    .method("PATCH")
                    .uri(format!("/api/v1/namespaces/default/pods/s-{c}-{i}/status"))
                    .header("content-type", "application/strategic-merge-patch+json")
                    .body(kube::client::Body::from(body.into_bytes()))
                    .map_err(|e| e.to_string())?;
                let t = Instant::now();
                let resp = client.send(req).await.map_err(|e| e.to_string())?;
                let ok = resp.status().is_success();
                let _ = resp.into_body().collect().await;
                if !ok {
                    return Err("status patch failed".to_string());
                }
                lat.push(t.elapsed());
            }
            Ok::<_, String>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    let secs = start.elapsed().as_secs_f64();
    srv.shutdown().await;
    all.sort();
    let p99 = all[((all.len() as f64 * 0.99) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    Ok((all.len() as f64 / secs, p99))
}

async fn wait_for_sa(client: &kube::Client) -> Result<(), String> {
    let sas: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        kube::Api::namespaced(client.clone(), "default");
    for _ in 0..200 {
        if sas
            .get_opt("default")
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("default service account never appeared".into())
}

async fn watch_run(watchers: usize, pods: usize) -> Result<f64, String> {
    let srv = ServerBuilder::new()
        .controllers(vec!["serviceaccount".into()])
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let client = srv.client();
    wait_for_sa(&client).await?;
    let rv = srv.state().store.current_rv().to_string();
    let total = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..watchers {
        let c = kube::Client::try_from(srv.kube_config()).map_err(|e| e.to_string())?;
        let total = total.clone();
        let rv = rv.clone();
        handles.push(tokio::spawn(async move {
            // Count raw newline-delimited events: the server's delivery, not client decoding.
            let req = http::Request::builder()
                .uri(format!(
                    "/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}"
                ))
                .body(kube::client::Body::empty())
                .map_err(|e| e.to_string())?;
            let resp = c.send(req).await.map_err(|e| e.to_string())?;
            let mut body = resp.into_body();
            let mut n = 0;
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    let lines = data.iter().filter(|b| **b == b'\n').count();
                    n += lines;
                    total.fetch_add(lines, std::sync::atomic::Ordering::Relaxed);
                }
                if n >= pods {
                    break;
                }
            }
            Ok::<_, String>(())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    let creators = 4;
    let mut tasks = Vec::new();
    for c in 0..creators {
        let client = kube::Client::try_from(srv.kube_config()).map_err(|e| e.to_string())?;
        let per = pods / creators;
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                create(
                    &client,
                    "default",
                    pod_body("default", &format!("w-{c}-{i}")),
                )
                .await?;
            }
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let want = watchers * (pods / creators * creators);
    let deadline = Instant::now() + Duration::from_secs(120);
    while total.load(std::sync::atomic::Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let got = total.load(std::sync::atomic::Ordering::Relaxed);
    for h in handles {
        h.abort();
    }
    srv.shutdown().await;
    Ok(got as f64 / secs)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn rss_run(pods: usize) -> Result<(f64, f64), String> {
    let srv = ServerBuilder::new()
        .controllers(vec!["serviceaccount".into()])
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let client = srv.client();
    wait_for_sa(&client).await?;
    // Warm the request path so one-time allocations are not counted per pod.
    for i in 0..200 {
        create(
            &client,
            "default",
            pod_body("default", &format!("warm-{i}")),
        )
        .await?;
    }
    let before = rss_kb();
    for i in 0..pods {
        create(&client, "default", pod_body("default", &format!("r-{i}"))).await?;
    }
    let after = rss_kb();
    let sample = srv
        .state()
        .store
        .get("/pods", "default", "r-0")
        .map(|o| o.json.len())
        .unwrap_or(0);
    srv.shutdown().await;
    let per_pod = (after.saturating_sub(before) * 1024) as f64 / pods as f64;
    Ok((per_pod, sample as f64))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    let args = Args::parse();
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut out = serde_json::Map::new();
    let run = |part: &str| args.only.is_empty() || args.only.iter().any(|o| o == part);
    for storage in ["memory", "sqlite"].into_iter().filter(|_| run("create")) {
        for clients in [1usize, 8] {
            let r = create_run(storage, clients, args.pods)
                .await
                .map_err(anyhow::Error::msg)?;
            rows.push((
                format!("creates/s {storage} {clients} client(s)"),
                format!("{:.0}", r.per_sec),
            ));
            rows.push((
                format!("create p50/p99 ms {storage} {clients} client(s)"),
                format!("{:.2} / {:.2}", r.p50_ms, r.p99_ms),
            ));
            let key = format!("{storage}_{clients}c");
            out.insert(format!("creates_per_s_{key}"), json!(r.per_sec.round()));
            out.insert(
                format!("p50_ms_{key}"),
                json!((r.p50_ms * 100.0).round() / 100.0),
            );
            out.insert(
                format!("p99_ms_{key}"),
                json!((r.p99_ms * 100.0).round() / 100.0),
            );
        }
    }
    if run("status") {
        let (ups, p99) = status_run(args.pods).await.map_err(anyhow::Error::msg)?;
        rows.push((
            "status patches/s memory 8 clients".into(),
            format!("{ups:.0} (p99 {p99:.2} ms)"),
        ));
        out.insert("status_patches_per_s_memory_8c".into(), json!(ups.round()));
    }
    if run("watch") {
        let eps = watch_run(args.watchers, args.watch_pods)
            .await
            .map_err(anyhow::Error::msg)?;
        rows.push((
            format!("watch events/s to {} watchers", args.watchers),
            format!("{eps:.0}"),
        ));
        out.insert("watch_events_per_s".into(), json!(eps.round()));
    }
    if !run("rss") {
        print_results(&rows, out);
        return Ok(());
    }
    // Memory is measured in a fresh process: freed memory of the earlier runs would be reused
    // without growing RSS and hide the real cost per pod.
    let (per_pod, json_size) = if args.only.iter().any(|o| o == "rss") {
        rss_run(args.rss_pods).await.map_err(anyhow::Error::msg)?
    } else {
        rss_in_child(args.rss_pods)?
    };
    let beyond = per_pod - json_size;
    rows.push((
        format!("RSS per stored pod ({} pods)", args.rss_pods),
        format!("{per_pod:.0} B (JSON {json_size:.0} B, beyond JSON {beyond:.0} B)"),
    ));
    out.insert("rss_bytes_per_pod".into(), json!(per_pod.round()));
    out.insert("pod_json_bytes".into(), json!(json_size));
    out.insert(
        "rss_bytes_per_pod_beyond_json".into(),
        json!(beyond.round()),
    );
    print_results(&rows, out);
    Ok(())
}

/// Runs the memory measurement in a child process of this binary and reads its JSON line.
fn rss_in_child(pods: usize) -> anyhow::Result<(f64, f64)> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(["--only", "rss", "--rss-pods", &pods.to_string()])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(last)?;
    let get = |k: &str| v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    Ok((get("rss_bytes_per_pod"), get("pod_json_bytes")))
}

fn print_results(rows: &[(String, String)], out: serde_json::Map<String, serde_json::Value>) {
    println!("{:<45} value", "measure");
    for (k, v) in rows {
        println!("{k:<45} {v}");
    }
    println!("{}", serde_json::Value::Object(out));
}
