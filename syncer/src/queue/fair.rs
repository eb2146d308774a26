//! The fair queue: per-tenant sub-queues of deduplicated keys served by weighted round robin,
//! each tenant throttled by its own token bucket.
//!
//! Pure and synchronous: time comes from a `governor` clock so tests can drive it by hand. A key
//! is queued at most once; a key re-added while in flight is processed again after it finishes.
//! Each turn of the round robin serves up to `weight` items of one tenant (deficit round robin
//! where every item costs one), so a tenant with a long queue delays another tenant's item by at
//! most one round.
//!
//! Each sub-queue has two lanes: live changes, and *resync* items (a relist or a tenant's full
//! resync after a restart) served only when the tenant has no live item ready, so a change a
//! user is waiting for overtakes thousands of checks that will most likely find nothing to do.
//! A live add of a key waiting in the resync lane moves it to the live lane.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::backoff::Backoff;
use super::key::WorkKey;

/// A tenant's token bucket.
pub type Limiter<C> =
    RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Builds a token bucket of `qps` sustained operations per second with `burst` (both at least 1).
pub fn limiter<C: Clock>(qps: u32, burst: u32, clock: C) -> Limiter<C> {
    let qps = std::num::NonZeroU32::new(qps.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
    let burst = std::num::NonZeroU32::new(burst.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
    RateLimiter::direct_with_clock(Quota::per_second(qps).allow_burst(burst), clock)
}

/// How one tenant is served.
pub struct TenantSettings<C: Clock> {
    /// Items served per round-robin turn (at least 1).
    pub weight: u32,
    /// The tenant's token bucket; `None` means unthrottled. May be shared between queues so that
    /// a tenant's budget covers both directions.
    pub limiter: Option<Arc<Limiter<C>>>,
}

/// What [`FairQueue::pop`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Pop<I> {
    /// An item to process now; call [`FairQueue::finish`] when done.
    Item(Popped),
    /// Nothing can be served before this instant (delayed items or token buckets).
    Wait(I),
    /// Nothing is queued.
    Idle,
}

/// An item handed to a worker.
#[derive(Debug, PartialEq, Eq)]
pub struct Popped {
    /// The key to reconcile.
    pub key: WorkKey,
    /// How long the item waited in the ready queue.
    pub waited: Duration,
    /// How many times it failed before (0 on the first attempt).
    pub failures: u32,
}

/// How processing an item ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Synced: forget its failure count.
    Done,
    /// Failed in a way that may succeed later: retry with backoff.
    Retry,
    /// Failed in a way that cannot succeed: do not retry (a later change re-queues it).
    GiveUp,
}

/// What [`FairQueue::finish`] did with the item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// Nothing more to do.
    Completed,
    /// Re-queued now because it changed while in flight.
    Requeued,
    /// Scheduled for a retry after this delay.
    RetryAfter(Duration),
    /// Dropped after too many failures or a permanent error.
    GaveUp,
}

struct Sub<C: Clock> {
    weight: u32,
    paused: bool,
    limiter: Option<Arc<Limiter<C>>>,
    ready: VecDeque<WorkKey>,
    /// The resync lane; may hold stale copies of keys no longer in `resync_keys`.
    resync: VecDeque<WorkKey>,
    /// Keys waiting in the resync lane.
    resync_keys: HashSet<WorkKey>,
    /// Keys in either lane, with the instant they became ready.
    queued: HashMap<WorkKey, C::Instant>,
    /// Delayed keys and their deadline; the heap may hold stale entries.
    delayed_at: HashMap<WorkKey, C::Instant>,
    delayed: BinaryHeap<Reverse<(C::Instant, WorkKey)>>,
    in_flight: HashSet<WorkKey>,
    dirty: HashSet<WorkKey>,
    failures: HashMap<WorkKey, u32>,
}

impl<C: Clock> Sub<C> {
    fn new(settings: TenantSettings<C>) -> Self {
        Sub {
            weight: settings.weight.max(1),
            paused: false,
            limiter: settings.limiter,
            ready: VecDeque::new(),
            resync: VecDeque::new(),
            resync_keys: HashSet::new(),
            queued: HashMap::new(),
            delayed_at: HashMap::new(),
            delayed: BinaryHeap::new(),
            in_flight: HashSet::new(),
            dirty: HashSet::new(),
            failures: HashMap::new(),
        }
    }

    fn add(&mut self, key: WorkKey, now: C::Instant) {
        if self.in_flight.contains(&key) {
            self.dirty.insert(key);
            return;
        }
        if self.queued.contains_key(&key) {
            if self.resync_keys.remove(&key) {
                self.ready.push_back(key);
            }
            return;
        }
        self.delayed_at.remove(&key);
        self.queued.insert(key.clone(), now);
        self.ready.push_back(key);
    }

    /// Queues `key` in the resync lane unless it is already queued, delayed or in flight
    /// (an in-flight key runs again afterwards, as with [`Sub::add`]).
    fn add_resync(&mut self, key: WorkKey, now: C::Instant) {
        if self.in_flight.contains(&key) {
            self.dirty.insert(key);
            return;
        }
        if self.queued.contains_key(&key) || self.delayed_at.contains_key(&key) {
            return;
        }
        self.queued.insert(key.clone(), now);
        self.resync_keys.insert(key.clone());
        self.resync.push_back(key);
    }

    /// Whether a key is ready in either lane (drops stale resync copies at the front).
    fn has_ready(&mut self) -> bool {
        if !self.ready.is_empty() {
            return true;
        }
        while let Some(front) = self.resync.front() {
            if self.resync_keys.contains(front) {
                return true;
            }
            self.resync.pop_front();
        }
        false
    }

    /// The next ready key: the live lane first, then the resync lane.
    fn next_ready(&mut self) -> Option<WorkKey> {
        if let Some(key) = self.ready.pop_front() {
            return Some(key);
        }
        while let Some(key) = self.resync.pop_front() {
            if self.resync_keys.remove(&key) {
                return Some(key);
            }
        }
        None
    }

    fn add_after(&mut self, key: WorkKey, at: C::Instant) {
        if self.queued.contains_key(&key) || self.dirty.contains(&key) {
            return;
        }
        match self.delayed_at.get(&key) {
            Some(existing) if *existing <= at => {}
            _ => {
                self.delayed_at.insert(key.clone(), at);
                self.delayed.push(Reverse((at, key)));
            }
        }
    }

    /// Moves due delayed keys to the ready queue; returns the next pending deadline.
    fn promote(&mut self, now: C::Instant) -> Option<C::Instant> {
        while let Some(Reverse((at, _))) = self.delayed.peek() {
            let at = *at;
            if at > now {
                return Some(at);
            }
            if let Some(Reverse((at, key))) = self.delayed.pop()
                && self.delayed_at.get(&key) == Some(&at)
            {
                self.delayed_at.remove(&key);
                self.add(key, now);
            }
        }
        None
    }

    fn depth(&self) -> usize {
        self.queued.len() + self.delayed_at.len()
    }
}

/// Per-tenant sub-queues served by weighted round robin.
pub struct FairQueue<C: Clock> {
    clock: C,
    backoff: Backoff,
    subs: HashMap<Arc<str>, Sub<C>>,
    /// Round-robin order of tenants.
    ring: Vec<Arc<str>>,
    cursor: usize,
    /// Items the tenant at `cursor` may still take in its current turn.
    credit: u32,
    /// Items one tenant may have in flight at once (see [`tenant_share`]).
    max_in_flight: usize,
}

/// The workers one tenant may occupy at once out of `workers`: three quarters (at least one),
/// so a tenant whose API server answers slowly cannot hold every worker while another
/// tenant's item waits.
pub fn tenant_share(workers: usize) -> usize {
    (workers * 3 / 4).max(1)
}

impl<C: Clock> FairQueue<C> {
    /// An empty queue reading time from `clock`.
    pub fn new(clock: C, backoff: Backoff) -> Self {
        FairQueue {
            clock,
            backoff,
            subs: HashMap::new(),
            ring: Vec::new(),
            cursor: 0,
            credit: 0,
            max_in_flight: usize::MAX,
        }
    }

    /// Limits the items one tenant may have in flight at once (at least 1).
    pub fn set_max_in_flight(&mut self, n: usize) {
        self.max_in_flight = n.max(1);
    }

    /// The queue's clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Adds a tenant or replaces its weight and token bucket, keeping its items.
    pub fn set_tenant(&mut self, tenant: &Arc<str>, settings: TenantSettings<C>) {
        match self.subs.get_mut(tenant) {
            Some(sub) => {
                sub.weight = settings.weight.max(1);
                sub.limiter = settings.limiter;
            }
            None => {
                self.subs.insert(Arc::clone(tenant), Sub::new(settings));
                self.ring.push(Arc::clone(tenant));
            }
        }
    }

    /// Removes a tenant and everything it had queued; items in flight finish unnoticed.
    pub fn remove_tenant(&mut self, tenant: &str) {
        if self.subs.remove(tenant).is_none() {
            return;
        }
        if let Some(pos) = self.ring.iter().position(|t| &**t == tenant) {
            self.ring.remove(pos);
            if pos < self.cursor {
                self.cursor -= 1;
            } else if pos == self.cursor {
                self.credit = 0;
            }
            if self.cursor >= self.ring.len() {
                self.cursor = 0;
            }
        }
    }

    /// Pauses or resumes serving `tenant` (e.g. while its caches sync or its API server is
    /// down); its items stay queued and deduplicated.
    pub fn set_paused(&mut self, tenant: &str, paused: bool) {
        if let Some(sub) = self.subs.get_mut(tenant) {
            sub.paused = paused;
        }
    }

    /// Whether `tenant` is known.
    pub fn has_tenant(&self, tenant: &str) -> bool {
        self.subs.contains_key(tenant)
    }

    /// Queues `key` now. Returns false when its tenant is unknown (the key is dropped).
    pub fn add(&mut self, key: WorkKey) -> bool {
        self.add_with(key, Sub::add)
    }

    /// Queues `key` in its tenant's resync lane (see the module doc). Returns false when its
    /// tenant is unknown.
    pub fn add_resync(&mut self, key: WorkKey) -> bool {
        self.add_with(key, Sub::add_resync)
    }

    /// Hands `key` to its tenant's sub-queue with `add`; false when the tenant is unknown.
    fn add_with(&mut self, key: WorkKey, add: fn(&mut Sub<C>, WorkKey, C::Instant)) -> bool {
        let now = self.clock.now();
        match self.subs.get_mut(&key.tenant) {
            Some(sub) => {
                add(sub, key, now);
                true
            }
            None => false,
        }
    }

    /// Queues `key` after `delay` (unless it is queued sooner by other means).
    pub fn add_after(&mut self, key: WorkKey, delay: Duration) -> bool {
        let at = self.clock.now() + Nanos::from(delay);
        match self.subs.get_mut(&key.tenant) {
            Some(sub) => {
                sub.add_after(key, at);
                true
            }
            None => false,
        }
    }

    /// Items waiting (ready or delayed) for `tenant`.
    pub fn depth(&self, tenant: &str) -> usize {
        self.subs.get(tenant).map_or(0, Sub::depth)
    }

    /// Items waiting for every tenant.
    pub fn total_depth(&self) -> usize {
        self.subs.values().map(Sub::depth).sum()
    }

    /// Items being processed for `tenant`.
    pub fn in_flight(&self, tenant: &str) -> usize {
        self.subs.get(tenant).map_or(0, |s| s.in_flight.len())
    }

    /// Takes the next item in round-robin order, honouring each tenant's token bucket.
    pub fn pop(&mut self) -> Pop<C::Instant> {
        let now = self.clock.now();
        let cap = self.max_in_flight;
        let mut earliest: Option<C::Instant> = None;
        let mut note = |at: C::Instant| {
            earliest = Some(earliest.map_or(at, |e: C::Instant| e.min(at)));
        };
        // Each tenant is visited at most once per call, plus one to finish a partial turn.
        for _ in 0..=self.ring.len() {
            if self.ring.is_empty() {
                break;
            }
            if self.cursor >= self.ring.len() {
                self.cursor = 0;
            }
            let tenant = Arc::clone(&self.ring[self.cursor]);
            let Some(sub) = self.subs.get_mut(&tenant) else {
                self.advance();
                continue;
            };
            if let Some(next) = sub.promote(now) {
                note(next);
            }
            if self.credit == 0 {
                self.credit = sub.weight;
            }
            if sub.paused || sub.in_flight.len() >= cap || !sub.has_ready() {
                self.advance();
                continue;
            }
            if let Some(limiter) = &sub.limiter
                && let Err(not_until) = limiter.check()
            {
                note(not_until.earliest_possible());
                self.advance();
                continue;
            }
            let Some(key) = sub.next_ready() else {
                self.advance();
                continue;
            };
            let since = sub.queued.remove(&key).unwrap_or(now);
            sub.in_flight.insert(key.clone());
            let failures = sub.failures.get(&key).copied().unwrap_or(0);
            self.credit -= 1;
            if self.credit == 0 {
                self.advance();
            }
            return Pop::Item(Popped {
                key,
                waited: now.duration_since(since).into(),
                failures,
            });
        }
        match earliest {
            Some(at) => Pop::Wait(at),
            None => Pop::Idle,
        }
    }

    fn advance(&mut self) {
        self.credit = 0;
        self.cursor += 1;
        if self.cursor >= self.ring.len() {
            self.cursor = 0;
        }
    }

    /// Ends processing of `key` with `outcome`.
    pub fn finish(&mut self, key: &WorkKey, outcome: Outcome) -> Finished {
        let now = self.clock.now();
        let backoff = self.backoff;
        let Some(sub) = self.subs.get_mut(&key.tenant) else {
            return Finished::Completed;
        };
        sub.in_flight.remove(key);
        let dirty = sub.dirty.remove(key);
        match outcome {
            Outcome::Done => {
                sub.failures.remove(key);
                if dirty {
                    sub.add(key.clone(), now);
                    return Finished::Requeued;
                }
                Finished::Completed
            }
            Outcome::GiveUp => {
                sub.failures.remove(key);
                Finished::GaveUp
            }
            Outcome::Retry => {
                let failures = sub.failures.get(key).copied().unwrap_or(0) + 1;
                if failures > backoff.max_retries {
                    sub.failures.remove(key);
                    return Finished::GaveUp;
                }
                sub.failures.insert(key.clone(), failures);
                let delay = backoff.delay(failures);
                sub.add_after(key.clone(), now + Nanos::from(delay));
                Finished::RetryAfter(delay)
            }
        }
    }
}

#[cfg(test)]
mod tests;
