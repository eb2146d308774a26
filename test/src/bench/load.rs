//! The load generator: pod bodies serialized before the clock starts, a fixed number of
//! creations in flight, one HTTP/1.1 connection pool per API server (one connection per request
//! in flight).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use kube::Client;

use super::tracker::{RUN_LABEL, Stamp, Tracker};

/// Where pods are created: an API server and a namespace in it.
#[derive(Clone)]
pub struct Target {
    /// Client of the API server (built on the harness runtime).
    pub client: Client,
    /// `/api/v1/namespaces/<ns>/pods`.
    pub path: String,
}

impl Target {
    /// A namespace of an API server.
    pub fn new(client: Client, namespace: &str) -> Self {
        Target {
            client,
            path: format!("/api/v1/namespaces/{namespace}/pods"),
        }
    }
}

/// One pod to create: where, and its slot in the run's tracker.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    /// Index into the targets.
    pub target: usize,
    /// Slot (and pod name suffix).
    pub slot: usize,
}

/// The JSON body of the pod in `slot`: one container, no requests, as in the paper.
pub fn pod_body(tracker: &Tracker, slot: usize) -> Vec<u8> {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": tracker.pod_name(slot),
            "labels": {RUN_LABEL: tracker.run()},
        },
        "spec": {
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
        },
    })
    .to_string()
    .into_bytes()
}

/// Creation outcome.
#[derive(Debug, Default, Clone, Copy)]
pub struct Created {
    /// Pods created.
    pub ok: usize,
    /// Attempts that failed and were retried.
    pub retries: usize,
}

/// Every pod body of a run, by slot.
pub fn bodies(tracker: &Tracker) -> Arc<Vec<Vec<u8>>> {
    Arc::new((0..tracker.len()).map(|s| pod_body(tracker, s)).collect())
}

/// A load plan: jobs, bodies by slot, targets.
pub struct Plan {
    /// Where.
    pub targets: Vec<Target>,
    /// What, in order.
    pub jobs: Vec<Job>,
    /// Pre-serialized bodies, by slot.
    pub bodies: Arc<Vec<Vec<u8>>>,
}

impl Plan {
    /// The pods in `slots` dealt round robin over `targets` (slot i goes to target i mod n).
    pub fn round_robin(
        bodies: Arc<Vec<Vec<u8>>>,
        targets: Vec<Target>,
        slots: std::ops::Range<usize>,
    ) -> Self {
        let n = targets.len().max(1);
        let jobs = slots
            .map(|slot| Job {
                target: slot % n,
                slot,
            })
            .collect();
        Plan {
            targets,
            jobs,
            bodies,
        }
    }
}

/// Creates one pod, stamping `Created` before the first attempt; retries transient failures.
pub async fn create_one(
    target: &Target,
    body: &[u8],
    tracker: &Tracker,
    slot: usize,
) -> anyhow::Result<usize> {
    tracker.stamp(Stamp::Created, slot);
    let mut retries = 0;
    loop {
        let req = http::Request::post(target.path.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())?;
        match target.client.request_text(req).await {
            Ok(_) => return Ok(retries),
            // A retry of a request whose response was lost.
            Err(kube::Error::Api(s)) if s.code == 409 && retries > 0 => return Ok(retries),
            Err(e) if retries < 5 && transient(&e) => {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(50 * retries as u64)).await;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("creating {}", tracker.pod_name(slot)));
            }
        }
    }
}

fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        _ => true,
    }
}

/// Runs `plan` with `concurrency` creations in flight; `progress` counts finished creations.
pub async fn run(
    plan: Arc<Plan>,
    tracker: Arc<Tracker>,
    concurrency: usize,
    progress: Arc<AtomicUsize>,
) -> anyhow::Result<Created> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1).min(plan.jobs.len().max(1)) {
        let (plan, tracker, next, progress) = (
            Arc::clone(&plan),
            Arc::clone(&tracker),
            Arc::clone(&next),
            Arc::clone(&progress),
        );
        workers.spawn(async move {
            let mut retries = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = plan.jobs.get(i) else {
                    return Ok::<usize, anyhow::Error>(retries);
                };
                let target = plan.targets.get(job.target).context("job target")?;
                let body = plan.bodies.get(job.slot).context("job body")?;
                retries += create_one(target, body, &tracker, job.slot).await?;
                progress.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut out = Created::default();
    while let Some(r) = workers.join_next().await {
        out.retries += r??;
    }
    out.ok = progress.load(Ordering::Relaxed);
    Ok(out)
}
