//! Benchmark: registers N simulated nodes and runs M pods to Running against the embedded API
//! server, printing nodes-Ready time, pods-Running time and pods/s (a table, then one JSON
//! line). It prints figures; it never fails on them.
//!
//! `cargo run --release -p nodesim --features bench --bin nodesim-bench -- --nodes 1000 --pods 10000`

/// mimalloc: these programs allocate many short-lived JSON values; glibc malloc was the top
/// cost in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Namespace, Node, Pod, PodSpec};
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client};

/// nodesim benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Pods to run.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Concurrent pod creations.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Concurrent status writes / bindings in nodesim.
    #[arg(long, default_value_t = 64)]
    workers: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Also write the scheduler's and kubelet's Events (four more writes per pod).
    #[arg(long)]
    events: bool,
}

fn pod(i: usize) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("bench-{i}")),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some("registry.k8s.io/pause:3.10".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn nodes_ready(client: &Client) -> anyhow::Result<usize> {
    let list = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    Ok(list
        .items
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::process::install_crypto_provider();
    common::process::init_tracing(common::process::LogFormat::Text);
    let args = Args::parse();
    let deadline = Instant::now() + Duration::from_secs(args.timeout);

    let srv = apiserver::ServerBuilder::new()
        .start()
        .await
        .context("starting the embedded API server")?;
    let client = srv.client();
    let mut cfg = nodesim::NodesimConfig::new(srv.kube_config(), args.nodes, srv.client_ca_pem());
    cfg.pools[0].max_pods = u32::try_from(args.pods / args.nodes.max(1) * 2 + 10)
        .unwrap_or(110)
        .max(110);
    cfg.status_workers = args.workers;
    cfg.bind_workers = args.workers;
    cfg.events = args.events;

    let t_nodes = Instant::now();
    let sim = nodesim::start(cfg).await.context("starting nodesim")?;
    sim.wait_ready(Duration::from_secs(args.timeout)).await?;
    while nodes_ready(&client).await? < args.nodes {
        anyhow::ensure!(
            Instant::now() < deadline,
            "nodes did not become Ready in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let nodes_secs = t_nodes.elapsed().as_secs_f64();

    let ns: Api<Namespace> = Api::all(client.clone());
    let bench_ns = Namespace {
        metadata: ObjectMeta {
            name: Some("bench".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    ns.create(&PostParams::default(), &bench_ns).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "bench");

    // Count Running pods from a watch, like a user would observe them.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Instant>();
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel::<Instant>();
    let want = args.pods;
    let watch_api = pods.clone();
    tokio::spawn(async move {
        let mut running: HashSet<String> = HashSet::new();
        let mut bound: HashSet<String> = HashSet::new();
        let mut stream = watcher(watch_api, watcher::Config::default()).boxed();
        let mut done = Some(done_tx);
        let mut bound_tx = Some(bound_tx);
        while let Some(ev) = stream.next().await {
            let Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) = ev else {
                continue;
            };
            if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                bound.insert(p.metadata.name.clone().unwrap_or_default());
                if bound.len() >= want
                    && let Some(tx) = bound_tx.take()
                {
                    let _ = tx.send(Instant::now());
                }
            }
            if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                running.insert(p.metadata.name.unwrap_or_default());
                if running.len() >= want
                    && let Some(tx) = done.take()
                {
                    let _ = tx.send(Instant::now());
                }
            }
        }
    });

    let t_pods = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let mut creators = Vec::with_capacity(args.pods);
    for i in 0..args.pods {
        let permit = sem.clone().acquire_owned().await?;
        let pods = pods.clone();
        creators.push(tokio::spawn(async move {
            let _permit = permit;
            pods.create(&PostParams::default(), &pod(i)).await
        }));
    }
    for c in creators {
        c.await??;
    }
    let created_secs = t_pods.elapsed().as_secs_f64();
    let remaining = deadline.saturating_duration_since(Instant::now());
    let done = tokio::time::timeout(remaining, done_rx)
        .await
        .context("pods did not reach Running in time")??;
    let running_secs = done.duration_since(t_pods).as_secs_f64();
    let bound_secs = bound_rx
        .await
        .map(|t| t.duration_since(t_pods).as_secs_f64())
        .unwrap_or(f64::NAN);
    let pods_per_sec = args.pods as f64 / running_secs;

    println!("| metric                         | value |");
    println!("|--------------------------------|-------|");
    println!("| nodes                          | {} |", args.nodes);
    println!("| pods                           | {} |", args.pods);
    println!("| nodes Ready (s)                | {nodes_secs:.2} |");
    println!("| pods created (s)               | {created_secs:.2} |");
    println!("| pods bound (s)                 | {bound_secs:.2} |");
    println!("| pods Running (s)               | {running_secs:.2} |");
    println!("| pods/s                         | {pods_per_sec:.0} |");
    println!(
        "{}",
        serde_json::json!({
            "benchmark": "nodesim",
            "nodes": args.nodes,
            "pods": args.pods,
            "nodes_ready_seconds": nodes_secs,
            "pods_created_seconds": created_secs,
            "pods_bound_seconds": bound_secs,
            "pods_running_seconds": running_secs,
            "pods_per_second": pods_per_sec,
        })
    );
    sim.shutdown();
    srv.shutdown().await;
    Ok(())
}
