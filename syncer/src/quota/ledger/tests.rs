use super::usage::ONE;
use super::*;

const POD: Kind = Resource::namespaced("pods");

fn pods(n: i128) -> Amounts {
    Amounts::from([("pods".to_string(), n * ONE)])
}

fn req(ns: &str, name: &str, created: i64) -> Request {
    Request {
        kind: POD,
        uid: format!("{ns}/{name}"),
        namespace: ns.into(),
        name: name.into(),
        created,
        amounts: pods(1),
    }
}

fn names(w: &[Woken]) -> Vec<String> {
    w.iter()
        .map(|w| format!("{}/{}", w.namespace, w.name))
        .collect()
}

fn ledger(limit: i128) -> (Ledger, Instant) {
    let now = Instant::now();
    let mut l = Ledger::new();
    l.set_hard(Some(pods(limit)), "spec.quota.hard", now);
    (l, now)
}

#[test]
fn admits_up_to_the_limit_and_says_why_not() {
    let (mut l, now) = ledger(2);
    assert_eq!(l.admit(req("a", "p1", 1), now).0, Decision::Admitted);
    assert_eq!(l.admit(req("a", "p2", 2), now).0, Decision::Admitted);
    let (d, _) = l.admit(req("a", "p3", 3), now);
    assert_eq!(
        d,
        Decision::Waiting(
            "exceeded quota: spec.quota.hard, requested: pods=1, used: pods=2, limited: pods=2"
                .into()
        )
    );
    assert!(l.is_waiting(POD, "a", "p3"));
    // A retry of an admitted pod is not counted again.
    assert_eq!(l.admit(req("a", "p1", 1), now).0, Decision::Admitted);
    assert_eq!(l.reserved()["pods"], 2 * ONE);
}

#[test]
fn reservations_become_charges_without_double_counting() {
    let (mut l, now) = ledger(2);
    l.admit(req("a", "p1", 1), now);
    let key = (POD, "a/p1".to_string());
    assert!(l.charge(key.clone(), Some(pods(1)), now).is_empty());
    assert_eq!(l.used()["pods"], ONE);
    assert!(l.reserved().is_empty());
    assert_eq!(l.admit(req("a", "p1", 1), now).0, Decision::Admitted);
    assert_eq!(l.used()["pods"], ONE);
}

#[test]
fn freed_room_goes_to_the_line_in_creation_order() {
    let (mut l, now) = ledger(1);
    l.admit(req("a", "p0", 0), now);
    l.charge((POD, "a/p0".into()), Some(pods(1)), now);
    // Arrive out of creation order.
    for (name, created) in [("p3", 3), ("p1", 1), ("p2", 2)] {
        assert!(matches!(
            l.admit(req("a", name, created), now).0,
            Decision::Waiting(_)
        ));
    }
    let woken = l.charge((POD, "a/p0".into()), None, now);
    assert_eq!(names(&woken), vec!["a/p1"]);
    // p1 holds a reservation: p2 and p3 still wait, p1's retry is admitted.
    assert_eq!(l.admit(req("a", "p1", 1), now).0, Decision::Admitted);
    assert!(matches!(
        l.admit(req("a", "p3", 3), now).0,
        Decision::Waiting(_)
    ));
}

#[test]
fn a_later_object_does_not_overtake_the_line() {
    let (mut l, now) = ledger(3);
    let mut big = req("a", "big", 1);
    big.amounts = pods(2);
    l.admit(req("a", "p0", 0), now);
    l.admit(req("a", "p00", 0), now);
    // big needs 2, only 1 is free: it waits, and so does a small later pod that would fit.
    assert!(matches!(l.admit(big, now).0, Decision::Waiting(_)));
    let (d, _) = l.admit(req("a", "small", 2), now);
    match d {
        Decision::Waiting(m) => assert!(m.starts_with("waiting behind earlier"), "{m}"),
        other => panic!("{other:?}"),
    }
    let woken = l.release(&(POD, "a/p0".into()), now);
    assert_eq!(names(&woken), vec!["a/big"]);
    let woken = l.release(&(POD, "a/p00".into()), now);
    assert_eq!(names(&woken), vec!["a/small"]);
}

#[test]
fn namespaces_take_turns() {
    let (mut l, now) = ledger(1);
    l.admit(req("x", "hold", 0), now);
    for i in 1..=3 {
        l.admit(req("a", &format!("a{i}"), i), now);
    }
    l.admit(req("b", "b1", 9), now);
    let mut order = Vec::new();
    let mut holder = (POD, "x/hold".to_string());
    for _ in 0..4 {
        let woken = l.release(&holder, now);
        assert_eq!(woken.len(), 1);
        order.extend(names(&woken));
        holder = (POD, format!("{}/{}", woken[0].namespace, woken[0].name));
    }
    assert_eq!(order, vec!["a/a1", "b/b1", "a/a2", "a/a3"]);
}

#[test]
fn raising_the_limit_admits_the_line_and_refusals_are_retried() {
    let (mut l, now) = ledger(1);
    l.admit(req("a", "p0", 0), now);
    for i in 1..=3 {
        l.admit(req("a", &format!("p{i}"), i), now);
    }
    let mut huge = req("a", "huge", 5);
    huge.amounts = pods(5);
    assert!(matches!(l.admit(huge, now).0, Decision::Refused(_)));
    assert!(l.is_waiting(POD, "a", "huge"));
    let woken = l.set_hard(Some(pods(3)), "q", now);
    assert_eq!(names(&woken), vec!["a/huge", "a/p1", "a/p2"]);
    let woken = l.set_hard(None, "q", now);
    assert_eq!(names(&woken), vec!["a/p3"]);
    assert_eq!(l.waiting_len(), 0);
}

#[test]
fn forgotten_and_dead_objects_leave_the_line() {
    let (mut l, now) = ledger(1);
    l.admit(req("a", "p0", 0), now);
    l.admit(req("a", "p1", 1), now);
    l.admit(req("a", "p2", 2), now);
    assert!(l.forget(POD, "a", "p1", now).is_empty());
    assert!(!l.is_waiting(POD, "a", "p1"));
    // p0's reservation expires (its pod is gone): p2 is next.
    let woken = l.expire(now, Duration::from_secs(60), |_, _, name, _| name != "p0");
    assert_eq!(names(&woken), vec!["a/p2"]);
    let later = now + Duration::from_secs(120);
    assert!(
        l.expire(later, Duration::from_secs(60), |_, _, _, _| true)
            .is_empty()
    );
    assert!(l.reserved().is_empty());
}

#[test]
fn rebuild_reports_drift() {
    let (mut l, now) = ledger(5);
    l.charge((POD, "u1".into()), Some(pods(1)), now);
    let (drift, _) = l.rebuild(
        HashMap::from([
            ((POD, "u1".to_string()), pods(1)),
            ((POD, "u2".to_string()), pods(1)),
        ]),
        now,
    );
    assert_eq!(
        drift,
        vec![Drift {
            resource: "pods".into(),
            ledger: ONE,
            actual: 2 * ONE
        }]
    );
    assert_eq!(l.used()["pods"], 2 * ONE);
}
