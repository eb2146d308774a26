use governor::clock::FakeRelativeClock;

use super::*;
use crate::queue::key::Resource;

const PODS: Resource = Resource::namespaced("pods");

fn tenant(name: &str) -> Arc<str> {
    Arc::from(name)
}

fn key(t: &Arc<str>, name: &str) -> WorkKey {
    WorkKey::new(t, PODS, "default", name)
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

#[test]
fn live_items_overtake_the_resync_lane() {
    let (mut q, _) = queue();
    let a = tenant("a");
    q.set_tenant(&a, plain(1));
    for name in ["r1", "r2", "r3"] {
        assert!(q.add_resync(key(&a, name)));
    }
    q.add(key(&a, "live"));
    assert_eq!(q.depth("a"), 4);
    assert_eq!(pop_key(&mut q), key(&a, "live"));
    assert_eq!(pop_key(&mut q), key(&a, "r1"));
    // A live change of a key waiting for resync moves it ahead, once.
    q.add(key(&a, "r3"));
    assert_eq!(q.depth("a"), 2);
    assert_eq!(pop_key(&mut q), key(&a, "r3"));
    assert_eq!(pop_key(&mut q), key(&a, "r2"));
    assert_eq!(q.depth("a"), 0);
    assert_eq!(q.pop(), Pop::Idle);
}

#[test]
fn resync_adds_are_deduplicated_and_leave_backoff_alone() {
    let (mut q, clock) = queue();
    let a = tenant("a");
    q.set_tenant(&a, plain(1));
    q.add(key(&a, "p"));
    q.add_resync(key(&a, "p"));
    q.add_resync(key(&a, "q"));
    q.add_resync(key(&a, "q"));
    assert_eq!(q.depth("a"), 2);
    let p = pop_key(&mut q);
    assert_eq!(
        q.finish(&p, Outcome::Retry),
        Finished::RetryAfter(Duration::from_millis(50))
    );
    // A relist does not pull a failing key out of its backoff.
    q.add_resync(key(&a, "p"));
    assert_eq!(pop_key(&mut q), key(&a, "q"));
    assert!(matches!(q.pop(), Pop::Wait(_)));
    clock.advance(Duration::from_millis(50));
    assert_eq!(pop_key(&mut q), key(&a, "p"));
}

#[test]
fn another_tenants_live_item_is_not_held_by_a_resync() {
    let (mut q, _) = queue();
    let (a, b) = (tenant("a"), tenant("b"));
    q.set_tenant(&a, plain(1));
    q.set_tenant(&b, plain(1));
    for i in 0..100 {
        q.add_resync(key(&a, &format!("r{i}")));
    }
    q.add(key(&b, "live"));
    let first = pop_key(&mut q);
    let second = pop_key(&mut q);
    assert!(first == key(&b, "live") || second == key(&b, "live"));
}
