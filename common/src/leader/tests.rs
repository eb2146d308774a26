//! The pure decision functions of leader election, against client-go's rules.

use super::*;

const LEASE: Duration = Duration::from_secs(15);

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

fn held_by(holder: &str, transitions: i32) -> LeaderRecord {
    LeaderRecord {
        holder: Some(holder.to_string()),
        lease_duration_seconds: 15,
        acquire_time: Some(ts(100)),
        renew_time: Some(ts(110)),
        transitions,
    }
}

#[test]
fn no_lease_means_create_with_zero_transitions() {
    let now = Instant::now();
    let d = decide("me", None, now, ts(200), LEASE);
    assert_eq!(
        d,
        Decision::Create(LeaderRecord {
            holder: Some("me".into()),
            lease_duration_seconds: 15,
            acquire_time: Some(ts(200)),
            renew_time: Some(ts(200)),
            transitions: 0,
        })
    );
}

#[test]
fn valid_foreign_lease_is_left_alone() {
    let t0 = Instant::now();
    let obs = Observation {
        record: held_by("other", 3),
        changed_at: t0,
    };
    let d = decide(
        "me",
        Some(&obs),
        t0 + Duration::from_secs(5),
        ts(200),
        LEASE,
    );
    assert_eq!(
        d,
        Decision::HeldByOther {
            holder: "other".into(),
            expires_in: Duration::from_secs(10)
        }
    );
}

#[test]
fn expired_foreign_lease_is_taken_over_and_counted() {
    let t0 = Instant::now();
    let obs = Observation {
        record: held_by("other", 3),
        changed_at: t0,
    };
    let d = decide(
        "me",
        Some(&obs),
        t0 + Duration::from_secs(16),
        ts(300),
        LEASE,
    );
    let Decision::Write(rec) = d else {
        panic!("expected a write, got {d:?}")
    };
    assert_eq!(rec.holder.as_deref(), Some("me"));
    assert_eq!(rec.transitions, 4);
    assert_eq!(rec.acquire_time, Some(ts(300)));
    assert_eq!(rec.renew_time, Some(ts(300)));
}

#[test]
fn expiry_uses_local_observation_not_remote_clock() {
    // The remote renewTime is far in the past (skewed clock), but we saw the record change
    // just now: the lease is still valid for us.
    let t0 = Instant::now();
    let mut rec = held_by("other", 0);
    rec.renew_time = Some(ts(1));
    let obs = Observation {
        record: rec,
        changed_at: t0,
    };
    assert!(matches!(
        decide(
            "me",
            Some(&obs),
            t0 + Duration::from_secs(1),
            ts(10_000),
            LEASE
        ),
        Decision::HeldByOther { .. }
    ));
}

#[test]
fn renewal_keeps_acquire_time_and_transitions() {
    let t0 = Instant::now();
    let obs = Observation {
        record: held_by("me", 7),
        changed_at: t0,
    };
    let d = decide(
        "me",
        Some(&obs),
        t0 + Duration::from_secs(2),
        ts(112),
        LEASE,
    );
    assert_eq!(
        d,
        Decision::Write(LeaderRecord {
            holder: Some("me".into()),
            lease_duration_seconds: 15,
            acquire_time: Some(ts(100)),
            renew_time: Some(ts(112)),
            transitions: 7,
        })
    );
}

#[test]
fn released_lease_is_taken_at_once() {
    let t0 = Instant::now();
    let obs = Observation {
        record: released(&held_by("other", 2), ts(150)),
        changed_at: t0,
    };
    let Decision::Write(rec) = decide("me", Some(&obs), t0, ts(151), LEASE) else {
        panic!("expected a write")
    };
    assert_eq!(rec.transitions, 3);
    assert_eq!(rec.holder.as_deref(), Some("me"));
}

#[test]
fn observation_time_moves_only_on_change() {
    let t0 = Instant::now();
    let first = observe(None, held_by("a", 0), t0);
    let same = observe(
        Some(first.clone()),
        held_by("a", 0),
        t0 + Duration::from_secs(9),
    );
    assert_eq!(same.changed_at, t0);
    let mut renewed = held_by("a", 0);
    renewed.renew_time = Some(ts(120));
    let changed = observe(Some(same), renewed, t0 + Duration::from_secs(10));
    assert_eq!(changed.changed_at, t0 + Duration::from_secs(10));
}

#[test]
fn record_round_trips_through_spec() {
    let rec = held_by("me", 2);
    assert_eq!(LeaderRecord::from_spec(Some(&rec.to_spec())), rec);
    let rel = released(&rec, ts(5));
    let spec = rel.to_spec();
    assert_eq!(spec.holder_identity.as_deref(), Some(""));
    assert_eq!(LeaderRecord::from_spec(Some(&spec)).holder, None);
    assert_eq!(LeaderRecord::from_spec(None), LeaderRecord::default());
}

#[test]
fn timings_follow_client_go_rules() {
    assert!(LeaderTimings::default().validate().is_ok());
    let bad = LeaderTimings {
        lease_duration: Duration::from_secs(10),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    };
    assert!(bad.validate().is_err());
    let bad = LeaderTimings {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_secs(2),
    };
    assert!(bad.validate().is_err());
    let bad = LeaderTimings {
        retry_period: Duration::ZERO,
        ..LeaderTimings::default()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn identities_are_unique() {
    assert_ne!(default_identity(), default_identity());
}
