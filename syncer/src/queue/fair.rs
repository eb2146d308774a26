//! The fair queue: per-tenant sub-queues of deduplicated keys served by weighted round robin,
//! each tenant throttled by its own token bucket.
//!
//! Pure and synchronous: time comes from a `governor` clock so tests can drive it by hand. A key
//! is queued at most once; a key re-added while in flight is processed again after it finishes.
//! Each turn of the round robin serves up to `weight` items of one tenant (deficit round robin
//! where every item costs one), so a tenant with a long queue delays another tenant's item by at
//! most one round.

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
    /// Keys in `ready`, with the instant they became ready.
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
            return;
        }
        self.delayed_at.remove(&key);
        self.queued.insert(key.clone(), now);
        self.ready.push_back(key);
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
        self.ready.len() + self.delayed_at.len()
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
        let now = self.clock.now();
        match self.subs.get_mut(&key.tenant) {
            Some(sub) => {
                sub.add(key, now);
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
            if sub.ready.is_empty() || sub.paused || sub.in_flight.len() >= cap {
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
            let Some(key) = sub.ready.pop_front() else {
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
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;
    use crate::queue::key::Resource;

    fn tenant(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    fn key(t: &Arc<str>, name: &str) -> WorkKey {
        WorkKey::new(t, Resource::Pod, "default", name)
    }

    fn queue() -> (FairQueue<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (FairQueue::new(clock.clone(), Backoff::default()), clock)
    }

    fn plain(weight: u32) -> TenantSettings<FakeRelativeClock> {
        TenantSettings {
            weight,
            limiter: None,
        }
    }

    fn pop_key(q: &mut FairQueue<FakeRelativeClock>) -> WorkKey {
        match q.pop() {
            Pop::Item(p) => p.key,
            other => panic!("expected an item, got {other:?}"),
        }
    }

    #[test]
    fn deduplicates_queued_keys() {
        let (mut q, _) = queue();
        let a = tenant("a");
        q.set_tenant(&a, plain(1));
        assert!(q.add(key(&a, "p")));
        assert!(q.add(key(&a, "p")));
        assert_eq!(q.depth("a"), 1);
        assert_eq!(pop_key(&mut q), key(&a, "p"));
        assert_eq!(q.pop(), Pop::Idle);
    }

    #[test]
    fn unknown_tenant_is_refused() {
        let (mut q, _) = queue();
        assert!(!q.add(key(&tenant("x"), "p")));
        assert_eq!(q.pop(), Pop::Idle);
    }

    #[test]
    fn re_added_while_in_flight_runs_again_after() {
        let (mut q, _) = queue();
        let a = tenant("a");
        q.set_tenant(&a, plain(1));
        q.add(key(&a, "p"));
        let k = pop_key(&mut q);
        q.add(key(&a, "p"));
        q.add(key(&a, "p"));
        // Not served twice concurrently.
        assert_eq!(q.pop(), Pop::Idle);
        assert_eq!(q.finish(&k, Outcome::Done), Finished::Requeued);
        assert_eq!(pop_key(&mut q), key(&a, "p"));
        assert_eq!(q.finish(&k, Outcome::Done), Finished::Completed);
        assert_eq!(q.pop(), Pop::Idle);
    }

    #[test]
    fn greedy_tenant_delays_light_tenant_by_at_most_one_round() {
        let (mut q, _) = queue();
        let greedy = tenant("greedy");
        let light = tenant("light");
        let third = tenant("third");
        q.set_tenant(&greedy, plain(1));
        q.set_tenant(&light, plain(1));
        q.set_tenant(&third, plain(1));
        for i in 0..10_000 {
            q.add(key(&greedy, &format!("g{i}")));
        }
        for i in 0..3 {
            q.add(key(&third, &format!("t{i}")));
        }
        // Drain part of the greedy backlog first, then the light tenant shows up.
        for _ in 0..500 {
            let k = pop_key(&mut q);
            q.finish(&k, Outcome::Done);
        }
        q.add(key(&light, "l"));
        let mut pops_before_light = 0;
        loop {
            let k = pop_key(&mut q);
            q.finish(&k, Outcome::Done);
            if *k.tenant == *"light" {
                break;
            }
            pops_before_light += 1;
        }
        // One round serves at most one item of each of the other two tenants.
        assert!(pops_before_light <= 2, "waited {pops_before_light} pops");
    }

    #[test]
    fn weights_set_the_share_of_each_turn() {
        let (mut q, _) = queue();
        let heavy = tenant("heavy");
        let light = tenant("light");
        q.set_tenant(&heavy, plain(3));
        q.set_tenant(&light, plain(1));
        for i in 0..300 {
            q.add(key(&heavy, &format!("h{i}")));
            q.add(key(&light, &format!("l{i}")));
        }
        let mut heavy_served = 0;
        for _ in 0..200 {
            let k = pop_key(&mut q);
            if *k.tenant == *"heavy" {
                heavy_served += 1;
            }
            q.finish(&k, Outcome::Done);
        }
        assert_eq!(heavy_served, 150);
    }

    #[test]
    fn token_bucket_throttles_only_its_tenant() {
        let (mut q, clock) = queue();
        let slow = tenant("slow");
        let fast = tenant("fast");
        q.set_tenant(
            &slow,
            TenantSettings {
                weight: 1,
                limiter: Some(Arc::new(limiter(10, 1, clock.clone()))),
            },
        );
        q.set_tenant(&fast, plain(1));
        for i in 0..5 {
            q.add(key(&slow, &format!("s{i}")));
            q.add(key(&fast, &format!("f{i}")));
        }
        let mut served = Vec::new();
        while let Pop::Item(p) = q.pop() {
            served.push(p.key.tenant.to_string());
            q.finish(&p.key, Outcome::Done);
        }
        assert_eq!(served.iter().filter(|t| *t == "slow").count(), 1);
        assert_eq!(served.iter().filter(|t| *t == "fast").count(), 5);
        // The bucket refills at 10/s: the next slow item is due 100 ms later.
        match q.pop() {
            Pop::Wait(at) => assert_eq!(Duration::from(at), Duration::from_millis(100)),
            other => panic!("expected a wait, got {other:?}"),
        }
        clock.advance(Duration::from_millis(100));
        assert_eq!(pop_key(&mut q).name, "s1");
    }

    #[test]
    fn retries_back_off_exponentially_and_give_up() {
        let clock = FakeRelativeClock::default();
        let backoff = Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(25),
            max_retries: 3,
        };
        let mut q = FairQueue::new(clock.clone(), backoff);
        let a = tenant("a");
        q.set_tenant(&a, plain(1));
        q.add(key(&a, "p"));
        let mut delays = Vec::new();
        loop {
            let p = loop {
                match q.pop() {
                    Pop::Item(p) => break p,
                    Pop::Wait(at) => {
                        let now = clock.now();
                        clock.advance(at.duration_since(now).into());
                    }
                    Pop::Idle => panic!("item lost"),
                }
            };
            match q.finish(&p.key, Outcome::Retry) {
                Finished::RetryAfter(d) => delays.push(d),
                Finished::GaveUp => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            delays,
            vec![
                Duration::from_millis(10),
                Duration::from_millis(20),
                Duration::from_millis(25)
            ]
        );
        assert_eq!(q.pop(), Pop::Idle);
    }

    #[test]
    fn failure_count_resets_on_success_and_give_up_is_immediate() {
        let (mut q, clock) = queue();
        let a = tenant("a");
        q.set_tenant(&a, plain(1));
        q.add(key(&a, "p"));
        let k = pop_key(&mut q);
        assert!(matches!(
            q.finish(&k, Outcome::Retry),
            Finished::RetryAfter(_)
        ));
        clock.advance(Duration::from_secs(1));
        match q.pop() {
            Pop::Item(p) => assert_eq!(p.failures, 1),
            other => panic!("{other:?}"),
        }
        q.finish(&k, Outcome::Done);
        q.add(k.clone());
        match q.pop() {
            Pop::Item(p) => assert_eq!(p.failures, 0),
            other => panic!("{other:?}"),
        }
        assert_eq!(q.finish(&k, Outcome::GiveUp), Finished::GaveUp);
        assert_eq!(q.pop(), Pop::Idle);
    }

    #[test]
    fn delayed_add_fires_once_and_immediate_add_wins() {
        let (mut q, clock) = queue();
        let a = tenant("a");
        q.set_tenant(&a, plain(1));
        q.add_after(key(&a, "p"), Duration::from_secs(5));
        q.add_after(key(&a, "p"), Duration::from_secs(9));
        assert_eq!(q.depth("a"), 1);
        assert!(matches!(q.pop(), Pop::Wait(_)));
        clock.advance(Duration::from_secs(5));
        let k = pop_key(&mut q);
        q.finish(&k, Outcome::Done);
        assert_eq!(q.pop(), Pop::Idle);

        q.add_after(key(&a, "p"), Duration::from_secs(5));
        q.add(key(&a, "p"));
        let k = pop_key(&mut q);
        q.finish(&k, Outcome::Done);
        clock.advance(Duration::from_secs(10));
        assert_eq!(q.pop(), Pop::Idle);
    }

    #[test]
    fn wait_time_is_measured_from_enqueue() {
        let (mut q, clock) = queue();
        let a = tenant("a");
        q.set_tenant(&a, plain(1));
        q.add(key(&a, "p"));
        clock.advance(Duration::from_millis(30));
        match q.pop() {
            Pop::Item(p) => assert_eq!(p.waited, Duration::from_millis(30)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn paused_tenant_keeps_items_and_does_not_block_others() {
        let (mut q, _) = queue();
        let a = tenant("a");
        let b = tenant("b");
        q.set_tenant(&a, plain(1));
        q.set_tenant(&b, plain(1));
        q.add(key(&a, "1"));
        q.add(key(&b, "1"));
        q.set_paused("a", true);
        assert_eq!(pop_key(&mut q).tenant, b);
        assert_eq!(q.pop(), Pop::Idle);
        q.add(key(&a, "1"));
        assert_eq!(q.depth("a"), 1);
        q.set_paused("a", false);
        assert_eq!(pop_key(&mut q).tenant, a);
    }

    #[test]
    fn a_tenant_holds_at_most_its_share_of_workers() {
        let (mut q, _) = queue();
        q.set_max_in_flight(tenant_share(4));
        let (a, b) = (tenant("a"), tenant("b"));
        q.set_tenant(&a, plain(10));
        q.set_tenant(&b, plain(1));
        for i in 0..10 {
            q.add(key(&a, &format!("a{i}")));
        }
        let taken: Vec<WorkKey> = (0..3).map(|_| pop_key(&mut q)).collect();
        assert!(taken.iter().all(|k| k.tenant == a));
        // a has 3 of 4 in flight: its next item waits, b's goes to the free worker.
        assert_eq!(q.pop(), Pop::Idle);
        q.add(key(&b, "b0"));
        assert_eq!(pop_key(&mut q).tenant, b);
        q.finish(&taken[0], Outcome::Done);
        assert_eq!(pop_key(&mut q).tenant, a);
        assert_eq!(tenant_share(1), 1);
        assert_eq!(tenant_share(16), 12);
    }

    #[test]
    fn removing_a_tenant_drops_its_items_only() {
        let (mut q, _) = queue();
        let a = tenant("a");
        let b = tenant("b");
        q.set_tenant(&a, plain(1));
        q.set_tenant(&b, plain(1));
        q.add(key(&a, "1"));
        q.add(key(&b, "1"));
        q.remove_tenant("a");
        assert_eq!(pop_key(&mut q).tenant, b);
        assert_eq!(q.pop(), Pop::Idle);
        assert_eq!(q.total_depth(), 0);
    }
}
