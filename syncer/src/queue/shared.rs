//! The fair queue shared by async workers: a mutex around [`FairQueue`], a wake-up signal and the
//! per-tenant queue metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use governor::clock::MonotonicClock;
use tokio::sync::Notify;

use super::backoff::Backoff;
use super::fair::{FairQueue, Finished, Outcome, Pop, Popped, TenantSettings};
use super::key::{Direction, WorkKey};
use crate::metrics::Metrics;

/// A fair queue for one direction, shared by the workers of that direction.
pub struct WorkQueue {
    direction: Direction,
    inner: Mutex<FairQueue<MonotonicClock>>,
    notify: Notify,
    closed: AtomicBool,
    metrics: Arc<Metrics>,
}

impl WorkQueue {
    /// An empty queue for `direction`.
    pub fn new(direction: Direction, backoff: Backoff, metrics: Arc<Metrics>) -> Self {
        WorkQueue {
            direction,
            inner: Mutex::new(FairQueue::new(MonotonicClock, backoff)),
            notify: Notify::new(),
            closed: AtomicBool::new(false),
            metrics,
        }
    }

    /// The direction this queue serves.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    fn lock(&self) -> MutexGuard<'_, FairQueue<MonotonicClock>> {
        // A worker that panicked while holding the lock leaves consistent state (every method
        // finishes its mutation before returning), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_depth(&self, q: &FairQueue<MonotonicClock>, tenant: &str) {
        self.metrics
            .queue_depth
            .with_label_values(&[tenant, self.direction.as_str()])
            .set(i64::try_from(q.depth(tenant)).unwrap_or(i64::MAX));
    }

    /// Adds or updates a tenant.
    pub fn set_tenant(&self, tenant: &Arc<str>, settings: TenantSettings<MonotonicClock>) {
        let mut q = self.lock();
        q.set_tenant(tenant, settings);
        self.set_depth(&q, tenant);
        drop(q);
        self.notify.notify_waiters();
    }

    /// Limits the items one tenant may have in flight at once (see
    /// [`super::fair::tenant_share`]).
    pub fn set_max_in_flight(&self, n: usize) {
        self.lock().set_max_in_flight(n);
    }

    /// Pauses or resumes a tenant.
    pub fn set_paused(&self, tenant: &str, paused: bool) {
        self.lock().set_paused(tenant, paused);
        if !paused {
            self.notify.notify_waiters();
        }
    }

    /// Removes a tenant and its queued items.
    pub fn remove_tenant(&self, tenant: &str) {
        self.lock().remove_tenant(tenant);
    }

    /// Queues `key` now (deduplicated).
    pub fn add(&self, key: WorkKey) {
        self.add_with(key, FairQueue::add);
    }

    /// Queues `key` in its tenant's resync lane, behind every live item of that tenant.
    pub fn add_resync(&self, key: WorkKey) {
        self.add_with(key, FairQueue::add_resync);
    }

    fn add_with(&self, key: WorkKey, add: fn(&mut FairQueue<MonotonicClock>, WorkKey) -> bool) {
        let mut q = self.lock();
        let tenant = Arc::clone(&key.tenant);
        if add(&mut q, key) {
            self.set_depth(&q, &tenant);
            drop(q);
            // One new item needs one worker; waking them all would make them fight for the lock.
            self.notify.notify_one();
        }
    }

    /// Queues `key` after `delay`.
    pub fn add_after(&self, key: WorkKey, delay: Duration) {
        let mut q = self.lock();
        let tenant = Arc::clone(&key.tenant);
        if q.add_after(key, delay) {
            self.set_depth(&q, &tenant);
            drop(q);
            // A sleeping worker may need an earlier wake-up for this deadline.
            self.notify.notify_one();
        }
    }

    /// Items waiting for every tenant.
    pub fn total_depth(&self) -> usize {
        self.lock().total_depth()
    }

    /// Items waiting for `tenant`.
    pub fn depth(&self, tenant: &str) -> usize {
        self.lock().depth(tenant)
    }

    /// Waits for the next item; `None` once the queue is closed.
    pub async fn next(&self) -> Option<Popped> {
        loop {
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let popped = {
                let mut q = self.lock();
                let p = q.pop();
                if let Pop::Item(item) = &p {
                    self.set_depth(&q, &item.key.tenant);
                }
                p
            };
            match popped {
                Pop::Item(item) => {
                    self.metrics
                        .queue_wait
                        .with_label_values(&[&*item.key.tenant, self.direction.as_str()])
                        .observe(item.waited.as_secs_f64());
                    return Some(item);
                }
                Pop::Wait(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
                        _ = &mut notified => {}
                    }
                }
                Pop::Idle => notified.await,
            }
        }
    }

    /// Ends processing of `key`.
    pub fn finish(&self, key: &WorkKey, outcome: Outcome) -> Finished {
        let mut q = self.lock();
        let done = q.finish(key, outcome);
        self.set_depth(&q, &key.tenant);
        drop(q);
        // Even a completed item frees a slot of its tenant's share: a worker may now take the
        // tenant's next item.
        self.notify.notify_one();
        done
    }

    /// Wakes every waiting worker and makes [`WorkQueue::next`] return `None` from now on.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::key::Resource;

    const PODS: Resource = Resource::namespaced("pods");

    #[tokio::test]
    async fn worker_wakes_for_new_and_delayed_items_and_stops_on_close() {
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let q = Arc::new(WorkQueue::new(Direction::Down, Backoff::default(), metrics));
        let t: Arc<str> = Arc::from("t");
        q.set_tenant(
            &t,
            TenantSettings {
                weight: 1,
                limiter: None,
            },
        );
        let worker = {
            let q = Arc::clone(&q);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while let Some(p) = q.next().await {
                    seen.push(p.key.name.clone());
                    q.finish(&p.key, Outcome::Done);
                }
                seen
            })
        };
        q.add(WorkKey::new(&t, PODS, "ns", "now"));
        q.add_after(
            WorkKey::new(&t, PODS, "ns", "later"),
            Duration::from_millis(30),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        q.close();
        let seen = worker.await.expect("worker");
        assert_eq!(seen, vec!["now".to_string(), "later".to_string()]);
    }
}
