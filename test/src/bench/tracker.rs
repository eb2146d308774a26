//! Per-pod timestamps of one benchmark run, filled by the load generator (creation) and by pod
//! watches on the super cluster and the tenants (seen, Running). Lock-free: one atomic per pod
//! and stamp, the slot read from the pod name (`<run>-<slot>`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use kube::Client;
use kube::core::WatchEvent;
use serde::Deserialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Label put on every benchmark pod, valued with the run name.
pub const RUN_LABEL: &str = "bench.virtualcluster.io/run";

/// What happened to a pod, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// The harness sent the create request.
    Created = 0,
    /// The pod appeared in the super cluster.
    SuperSeen = 1,
    /// The super pod is Running.
    SuperRunning = 2,
    /// The tenant pod is Running.
    TenantRunning = 3,
}

/// Timestamps of every pod of one run.
pub struct Tracker {
    run: String,
    epoch: Instant,
    stamps: [Vec<AtomicU64>; 4],
    done_on: Stamp,
    done: AtomicUsize,
    all_done: Notify,
    slot_done: Vec<Notify>,
}

fn atomics(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Tracker {
    /// A run named `run` (a label value and pod-name prefix) of `slots` pods, each done once
    /// `done_on` is stamped.
    pub fn new(run: &str, slots: usize, done_on: Stamp) -> Arc<Self> {
        Arc::new(Tracker {
            run: run.to_string(),
            epoch: Instant::now(),
            stamps: [
                atomics(slots),
                atomics(slots),
                atomics(slots),
                atomics(slots),
            ],
            done_on,
            done: AtomicUsize::new(0),
            all_done: Notify::new(),
            slot_done: (0..slots).map(|_| Notify::new()).collect(),
        })
    }

    /// The run name.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// Time since the tracker was made (the clock of every stamp).
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// From the first creation to the last `end` stamp: the run's wall time.
    pub fn span(&self, end: Stamp) -> Option<Duration> {
        Some(self.last(end)?.saturating_sub(self.first(Stamp::Created)?))
    }

    /// Pods in the run.
    pub fn len(&self) -> usize {
        self.slot_done.len()
    }

    /// Name of the pod in `slot`.
    pub fn pod_name(&self, slot: usize) -> String {
        format!("{}-{slot}", self.run)
    }

    /// The slot of a pod of this run.
    pub fn slot_of(&self, name: &str) -> Option<usize> {
        let slot: usize = name
            .strip_prefix(self.run.as_str())?
            .strip_prefix('-')?
            .parse()
            .ok()?;
        (slot < self.len()).then_some(slot)
    }

    /// Records `stamp` for `slot` now unless it was recorded before; true when it is new.
    pub fn stamp(&self, stamp: Stamp, slot: usize) -> bool {
        let Some(cell) = self.stamps[stamp as usize].get(slot) else {
            return false;
        };
        // +1 keeps 0 free to mean "not yet".
        let now = self.epoch.elapsed().as_nanos() as u64 + 1;
        let fresh = cell
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if fresh && stamp == self.done_on {
            if let Some(n) = self.slot_done.get(slot) {
                n.notify_one();
            }
            if self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.len() {
                self.all_done.notify_one();
            }
        }
        fresh
    }

    /// When `stamp` was recorded for `slot`, since the tracker was made.
    pub fn get(&self, stamp: Stamp, slot: usize) -> Option<Duration> {
        let v = self.stamps[stamp as usize]
            .get(slot)?
            .load(Ordering::Acquire);
        (v != 0).then(|| Duration::from_nanos(v - 1))
    }

    /// The latest `stamp` over all slots.
    pub fn last(&self, stamp: Stamp) -> Option<Duration> {
        (0..self.len()).filter_map(|s| self.get(stamp, s)).max()
    }

    /// The earliest `stamp` over all slots.
    pub fn first(&self, stamp: Stamp) -> Option<Duration> {
        (0..self.len()).filter_map(|s| self.get(stamp, s)).min()
    }

    /// Pods done so far.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::Acquire)
    }

    /// Waits until every pod is done.
    pub async fn wait_all(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut report = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.done() < self.len() {
            if tokio::time::Instant::now() >= report {
                eprintln!(
                    "bench: {}: {}/{} pods done",
                    self.run,
                    self.done(),
                    self.len()
                );
                report += Duration::from_secs(10);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                anyhow::bail!(
                    "run {}: only {}/{} pods reached the end state in {timeout:?}",
                    self.run,
                    self.done(),
                    self.len()
                );
            }
            // Bounded wait: re-checks the counter even if a wake-up raced the check.
            let _ = tokio::time::timeout(
                left.min(Duration::from_millis(200)),
                self.all_done.notified(),
            )
            .await;
        }
        Ok(())
    }

    /// Waits until the pod in `slot` is done.
    pub async fn wait_slot(&self, slot: usize, timeout: Duration) -> anyhow::Result<()> {
        let notify = self.slot_done.get(slot).context("slot out of range")?;
        tokio::time::timeout(timeout, async {
            while self.get(self.done_on, slot).is_none() {
                notify.notified().await;
            }
        })
        .await
        .with_context(|| format!("pod {} not done in {timeout:?}", self.pod_name(slot)))
    }

    /// Milliseconds from `from` to `to` for every slot in `slots` that has both.
    pub fn latencies(
        &self,
        from: Stamp,
        to: Stamp,
        slots: impl IntoIterator<Item = usize>,
    ) -> Vec<f64> {
        slots
            .into_iter()
            .filter_map(|s| {
                let a = self.get(from, s)?;
                let b = self.get(to, s)?;
                Some(b.saturating_sub(a).as_secs_f64() * 1000.0)
            })
            .collect()
    }
}

/// Which side a watch observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The super cluster: stamps `SuperSeen` and `SuperRunning`.
    Super,
    /// A tenant: stamps `TenantRunning`.
    Tenant,
}

/// The few pod fields the harness reads (the rest of each event is skipped by serde).
#[derive(Debug, Clone, Deserialize)]
struct MiniPod {
    metadata: MiniMeta,
    #[serde(default)]
    status: Option<MiniStatus>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MiniMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    resource_version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct MiniStatus {
    #[serde(default)]
    phase: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MiniList {
    metadata: MiniMeta,
    #[serde(default)]
    items: Vec<MiniPod>,
}

fn observe(tracker: &Tracker, side: Side, pod: &MiniPod) {
    let Some(slot) = tracker.slot_of(&pod.metadata.name) else {
        return;
    };
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    match side {
        Side::Super => {
            tracker.stamp(Stamp::SuperSeen, slot);
            if running {
                tracker.stamp(Stamp::SuperRunning, slot);
            }
        }
        Side::Tenant if running => {
            tracker.stamp(Stamp::TenantRunning, slot);
        }
        Side::Tenant => {}
    }
}

/// `labelSelector=<RUN_LABEL>=<run>`, percent-encoded.
fn selector(run: &str) -> String {
    format!("labelSelector={}%3D{run}", RUN_LABEL.replace('/', "%2F"))
}

async fn list(
    client: &Client,
    path: &str,
    tracker: &Tracker,
    side: Side,
) -> anyhow::Result<String> {
    let uri = format!("{path}?{}", selector(tracker.run()));
    let req = http::Request::get(uri).body(Vec::new())?;
    let list: MiniList = client.request(req).await?;
    for pod in &list.items {
        observe(tracker, side, pod);
    }
    list.metadata
        .resource_version
        .context("list without resourceVersion")
}

/// Watches from `rv` until the stream ends; returns the last resourceVersion seen, or `None`
/// when the watch expired (410) and a fresh list is needed.
async fn watch(
    client: &Client,
    path: &str,
    tracker: &Tracker,
    side: Side,
    mut rv: String,
) -> anyhow::Result<Option<String>> {
    let uri = format!(
        "{path}?watch=1&allowWatchBookmarks=true&timeoutSeconds=600&resourceVersion={rv}&{}",
        selector(tracker.run())
    );
    let req = http::Request::get(uri).body(Vec::new())?;
    let stream = client.request_events::<MiniPod>(req).await?;
    let mut stream = std::pin::pin!(stream);
    while let Some(ev) = stream.next().await {
        match ev? {
            WatchEvent::Added(p) | WatchEvent::Modified(p) => {
                observe(tracker, side, &p);
                if let Some(v) = p.metadata.resource_version {
                    rv = v;
                }
            }
            WatchEvent::Deleted(p) => {
                if let Some(v) = p.metadata.resource_version {
                    rv = v;
                }
            }
            WatchEvent::Bookmark(b) => rv = b.metadata.resource_version,
            WatchEvent::Error(e) if e.code == 410 => return Ok(None),
            WatchEvent::Error(e) => anyhow::bail!("watch error: {}", e.message),
        }
    }
    Ok(Some(rv))
}

/// Keeps `tracker` up to date from a pod collection (`/api/v1/pods` or a namespace's) until
/// `cancel`; returns once the initial list is done, so nothing created afterwards is missed.
pub async fn spawn_watch(
    client: Client,
    path: String,
    side: Side,
    tracker: Arc<Tracker>,
    cancel: CancellationToken,
) -> anyhow::Result<JoinHandle<()>> {
    let rv = list(&client, &path, &tracker, side).await?;
    Ok(tokio::spawn(async move {
        let mut rv = Some(rv);
        loop {
            let step = async {
                match rv.take() {
                    Some(v) => watch(&client, &path, &tracker, side, v).await,
                    None => list(&client, &path, &tracker, side).await.map(Some),
                }
            };
            let out = tokio::select! {
                _ = cancel.cancelled() => return,
                out = step => out,
            };
            match out {
                Ok(next) => rv = next,
                Err(e) => {
                    tracing::warn!(%path, error = %e, "bench watch failed; listing again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stamps_and_latencies() {
        let t = Tracker::new("sync", 3, Stamp::TenantRunning);
        assert_eq!(t.pod_name(2), "sync-2");
        assert_eq!(t.slot_of("sync-2"), Some(2));
        assert_eq!(t.slot_of("sync-3"), None);
        assert_eq!(t.slot_of("syncx-1"), None);
        assert_eq!(t.slot_of("other-1"), None);
        assert!(t.stamp(Stamp::Created, 1));
        assert!(!t.stamp(Stamp::Created, 1));
        assert!(t.stamp(Stamp::TenantRunning, 1));
        assert_eq!(t.done(), 1);
        assert!(!t.stamp(Stamp::TenantRunning, 1));
        assert_eq!(t.done(), 1);
        assert_eq!(
            t.latencies(Stamp::Created, Stamp::TenantRunning, 0..3)
                .len(),
            1
        );
        assert!(t.last(Stamp::TenantRunning) >= t.first(Stamp::Created));
    }

    #[test]
    fn observe_by_side() {
        let t = Tracker::new("r", 2, Stamp::SuperRunning);
        let pod: MiniPod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "r-0", "resourceVersion": "5", "labels": {"x": "y"}},
            "spec": {"containers": []},
            "status": {"phase": "Running"}
        }))
        .unwrap();
        observe(&t, Side::Tenant, &pod);
        assert_eq!(t.done(), 0);
        observe(&t, Side::Super, &pod);
        assert_eq!(t.done(), 1);
        assert!(t.get(Stamp::SuperSeen, 0).is_some());
        assert!(t.get(Stamp::SuperSeen, 1).is_none());
    }

    #[tokio::test]
    async fn waits_for_slots_and_all() {
        let t = Tracker::new("w", 2, Stamp::TenantRunning);
        let t2 = t.clone();
        let h = tokio::spawn(async move { t2.wait_slot(1, Duration::from_secs(5)).await });
        t.stamp(Stamp::TenantRunning, 1);
        h.await.unwrap().unwrap();
        assert!(t.wait_all(Duration::from_millis(50)).await.is_err());
        t.stamp(Stamp::TenantRunning, 0);
        t.wait_all(Duration::from_secs(5)).await.unwrap();
    }
}
