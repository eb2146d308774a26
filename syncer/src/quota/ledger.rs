//! One tenant's quota ledger: what its super objects use (charged, keyed by the tenant object's
//! uid, so a retried pod is never counted twice), what was admitted but is not in the super
//! cache yet (reserved), and the line of objects waiting for room, served in creation order
//! within a namespace and round robin across namespaces. Pure: time is passed in.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::time::{Duration, Instant};

use super::usage::{self, Amounts};

/// The kinds the ledger counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Pods.
    Pod,
    /// Services.
    Service,
    /// PersistentVolumeClaims.
    Claim,
}

/// An object in the ledger: its kind and the tenant object's uid.
pub type ObjKey = (Kind, String);

/// A tenant object asking to be created in the super cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Kind.
    pub kind: Kind,
    /// Tenant object uid.
    pub uid: String,
    /// Tenant namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Creation time (seconds since the epoch); orders the line within a namespace.
    pub created: i64,
    /// What it would use.
    pub amounts: Amounts,
}

/// A tenant object to reconcile again (admitted from the line, or refused before a change).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Woken {
    /// Kind.
    pub kind: Kind,
    /// Tenant namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// The ledger's answer to a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Create it: its usage is reserved until the super cache shows it.
    Admitted,
    /// It waits in line; the message says for what.
    Waiting(String),
    /// It can never fit under the current limits; the message says why.
    Refused(String),
}

#[derive(Clone, Debug)]
struct Reservation {
    amounts: Amounts,
    namespace: String,
    name: String,
    at: Instant,
}

/// A change of the charged usage found by a rebuild from the super caches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// Resource name.
    pub resource: String,
    /// What the ledger had.
    pub ledger: i128,
    /// What the caches say.
    pub actual: i128,
}

/// One tenant's ledger.
#[derive(Debug, Default)]
pub struct Ledger {
    hard: Option<Amounts>,
    /// How messages name the quota, e.g. `spec.quota.hard of VirtualCluster t/a`.
    name: String,
    charged: HashMap<ObjKey, Amounts>,
    used: Amounts,
    reserved: HashMap<ObjKey, Reservation>,
    reserved_sum: Amounts,
    /// The line: per namespace, (created, arrival) → object.
    line: BTreeMap<String, BTreeMap<(i64, u64), ObjKey>>,
    waiting: HashMap<ObjKey, (Request, (i64, u64))>,
    names: HashMap<(Kind, String, String), ObjKey>,
    /// The namespace served last from the line (round robin continues after it).
    last_ns: Option<String>,
    arrivals: u64,
    /// Objects refused under the current limits, with their uid (reconciled again when the
    /// limits change).
    refused: HashMap<Woken, String>,
}

fn add(into: &mut Amounts, from: &Amounts, sign: i128) {
    for (k, v) in from {
        let e = into.entry(k.clone()).or_insert(0);
        *e += sign * v;
        if *e == 0 {
            into.remove(k);
        }
    }
}

impl Ledger {
    /// An empty ledger without limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// The limits in force (`None`: unlimited).
    pub fn hard(&self) -> Option<&Amounts> {
        self.hard.as_ref()
    }

    /// What the tenant's super objects use (reservations excluded).
    pub fn used(&self) -> &Amounts {
        &self.used
    }

    /// What is reserved for admitted objects not yet in the super cache.
    pub fn reserved(&self) -> &Amounts {
        &self.reserved_sum
    }

    /// Objects waiting in line.
    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether the tenant object `kind` `ns/name` waits in line (or was refused).
    pub fn is_waiting(&self, kind: Kind, ns: &str, name: &str) -> bool {
        self.names
            .contains_key(&(kind, ns.to_string(), name.to_string()))
            || self.refused.contains_key(&Woken {
                kind,
                namespace: ns.to_string(),
                name: name.to_string(),
            })
    }

    /// Sets the limits and the name messages use; on a change, the line moves as far as the
    /// new limits allow and refused objects are reconciled again.
    pub fn set_hard(&mut self, hard: Option<Amounts>, name: &str, now: Instant) -> Vec<Woken> {
        self.name = name.to_string();
        if self.hard == hard {
            return Vec::new();
        }
        self.hard = hard;
        let mut woken: Vec<Woken> = self.refused.drain().map(|(w, _)| w).collect();
        woken.sort();
        woken.extend(self.pump(now));
        woken
    }

    /// Records what a super object uses now (`None`: gone); its reservation ends.
    pub fn charge(&mut self, key: ObjKey, amounts: Option<Amounts>, now: Instant) -> Vec<Woken> {
        if let Some(r) = self.reserved.remove(&key) {
            add(&mut self.reserved_sum, &r.amounts, -1);
        }
        self.unwait(&key);
        if let Some(old) = self.charged.remove(&key) {
            add(&mut self.used, &old, -1);
        }
        if let Some(a) = amounts {
            add(&mut self.used, &a, 1);
            self.charged.insert(key, a);
        }
        self.pump(now)
    }

    /// Whether the usage of `key` is counted (charged or reserved).
    pub fn is_counted(&self, key: &ObjKey) -> bool {
        self.charged.contains_key(key) || self.reserved.contains_key(key)
    }

    /// Decides whether `req` may be created now. An object already counted is admitted again
    /// (a retry); one that fits but has others ahead of it waits its turn.
    pub fn admit(&mut self, req: Request, now: Instant) -> (Decision, Vec<Woken>) {
        let key: ObjKey = (req.kind, req.uid.clone());
        if self.charged.contains_key(&key) {
            return (Decision::Admitted, Vec::new());
        }
        if let Some(r) = self.reserved.get_mut(&key) {
            r.at = now;
            return (Decision::Admitted, Vec::new());
        }
        let me = Woken {
            kind: req.kind,
            namespace: req.namespace.clone(),
            name: req.name.clone(),
        };
        self.refused.remove(&me);
        if let Some(hard) = &self.hard {
            let never: Vec<&String> = hard
                .keys()
                .filter(|r| req.amounts.get(*r).is_some_and(|v| v > &hard[*r]))
                .collect();
            if !never.is_empty() {
                let msg = format!(
                    "exceeded quota: {}, requested: {}, limited: {}",
                    self.name,
                    usage::pairs(&never, &req.amounts),
                    usage::pairs(&never, hard)
                );
                self.unwait(&key);
                self.refused.insert(me, req.uid.clone());
                let woken = self.pump(now);
                return (Decision::Refused(msg), woken);
            }
        }
        self.enqueue(req.clone());
        let mut woken = self.pump(now);
        if let Some(pos) = woken.iter().position(|w| *w == me) {
            woken.remove(pos);
            return (Decision::Admitted, woken);
        }
        (Decision::Waiting(self.waiting_message(&req)), woken)
    }

    /// Records that `w` (tenant uid `uid`) cannot be counted under the current limits (e.g.
    /// a container does not state a resource the quota limits); it leaves the line and is
    /// reconciled again when the limits change.
    pub fn refuse(&mut self, w: Woken, uid: &str, now: Instant) -> Vec<Woken> {
        let was_waiting = self.unwait(&(w.kind, uid.to_string()));
        self.refused.insert(w, uid.to_string());
        if was_waiting {
            self.pump(now)
        } else {
            Vec::new()
        }
    }

    /// Ends the reservation of an object whose creation failed.
    pub fn release(&mut self, key: &ObjKey, now: Instant) -> Vec<Woken> {
        match self.reserved.remove(key) {
            Some(r) => {
                add(&mut self.reserved_sum, &r.amounts, -1);
                self.pump(now)
            }
            None => Vec::new(),
        }
    }

    /// Drops everything about the tenant object `kind` `ns/name` except its super copy's
    /// charge (the tenant object is gone or being deleted).
    pub fn forget(&mut self, kind: Kind, ns: &str, name: &str, now: Instant) -> Vec<Woken> {
        self.refused.remove(&Woken {
            kind,
            namespace: ns.to_string(),
            name: name.to_string(),
        });
        let mut changed = false;
        if let Some(key) = self.names.get(&(kind, ns.to_string(), name.to_string())) {
            let key = key.clone();
            changed |= self.unwait(&key);
        }
        let stale: Vec<ObjKey> = self
            .reserved
            .iter()
            .filter(|(k, r)| k.0 == kind && r.namespace == ns && r.name == name)
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            if let Some(r) = self.reserved.remove(&k) {
                add(&mut self.reserved_sum, &r.amounts, -1);
                changed = true;
            }
        }
        if changed { self.pump(now) } else { Vec::new() }
    }

    /// Drops reservations older than `ttl` and reservations and waiting objects whose tenant
    /// object is no longer `alive(kind, namespace, name, uid)`.
    pub fn expire(
        &mut self,
        now: Instant,
        ttl: Duration,
        alive: impl Fn(Kind, &str, &str, &str) -> bool,
    ) -> Vec<Woken> {
        let stale: Vec<ObjKey> = self
            .reserved
            .iter()
            .filter(|(k, r)| {
                now.duration_since(r.at) > ttl || !alive(k.0, &r.namespace, &r.name, &k.1)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &stale {
            if let Some(r) = self.reserved.remove(k) {
                add(&mut self.reserved_sum, &r.amounts, -1);
            }
        }
        let gone: Vec<ObjKey> = self
            .waiting
            .iter()
            .filter(|(k, (req, _))| !alive(k.0, &req.namespace, &req.name, &k.1))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            self.unwait(k);
        }
        self.refused
            .retain(|w, uid| alive(w.kind, &w.namespace, &w.name, uid));
        self.pump(now)
    }

    /// Replaces the charged usage with a rebuild from the super caches; returns the
    /// resources whose totals differed (and what the line could take afterwards).
    pub fn rebuild(
        &mut self,
        charged: HashMap<ObjKey, Amounts>,
        now: Instant,
    ) -> (Vec<Drift>, Vec<Woken>) {
        let mut used = Amounts::new();
        for a in charged.values() {
            add(&mut used, a, 1);
        }
        let mut drift = Vec::new();
        let names: std::collections::BTreeSet<&String> =
            used.keys().chain(self.used.keys()).collect();
        for r in names {
            let (l, a) = (
                self.used.get(r).copied().unwrap_or(0),
                used.get(r).copied().unwrap_or(0),
            );
            if l != a {
                drift.push(Drift {
                    resource: r.clone(),
                    ledger: l,
                    actual: a,
                });
            }
        }
        for k in charged.keys() {
            if let Some(r) = self.reserved.remove(k) {
                add(&mut self.reserved_sum, &r.amounts, -1);
            }
        }
        self.charged = charged;
        self.used = used;
        (drift, self.pump(now))
    }

    fn enqueue(&mut self, req: Request) {
        let key: ObjKey = (req.kind, req.uid.clone());
        if let Some((old, _)) = self.waiting.get_mut(&key) {
            old.amounts = req.amounts;
            return;
        }
        // A new uid under a known name replaces the earlier object.
        let name_key = (req.kind, req.namespace.clone(), req.name.clone());
        if let Some(prev) = self.names.get(&name_key).cloned() {
            self.unwait(&prev);
        }
        self.arrivals += 1;
        let order = (req.created, self.arrivals);
        self.line
            .entry(req.namespace.clone())
            .or_default()
            .insert(order, key.clone());
        self.names.insert(name_key, key.clone());
        self.waiting.insert(key, (req, order));
    }

    /// Removes an object from the line; returns whether it was there.
    fn unwait(&mut self, key: &ObjKey) -> bool {
        let Some((req, order)) = self.waiting.remove(key) else {
            return false;
        };
        if let Some(q) = self.line.get_mut(&req.namespace) {
            q.remove(&order);
            if q.is_empty() {
                self.line.remove(&req.namespace);
            }
        }
        self.names.remove(&(req.kind, req.namespace, req.name));
        true
    }

    /// The namespace whose turn it is and its first object.
    fn head(&self) -> Option<(&String, &ObjKey)> {
        let after = match &self.last_ns {
            Some(last) => self
                .line
                .range::<String, _>((Bound::Excluded(last), Bound::Unbounded))
                .next(),
            None => None,
        };
        let (ns, q) = after.or_else(|| self.line.iter().next())?;
        let (_, key) = q.iter().next()?;
        Some((ns, key))
    }

    /// Resources (of the quota) that `amounts` would push over the limits.
    fn exceeding(&self, amounts: &Amounts) -> Vec<&String> {
        let Some(hard) = &self.hard else {
            return Vec::new();
        };
        hard.iter()
            .filter(|(r, limit)| {
                amounts.get(*r).is_some_and(|v| {
                    let used = self.used.get(*r).copied().unwrap_or(0)
                        + self.reserved_sum.get(*r).copied().unwrap_or(0);
                    used + v > **limit
                })
            })
            .map(|(r, _)| r)
            .collect()
    }

    /// Admits objects from the head of the line while they fit.
    fn pump(&mut self, now: Instant) -> Vec<Woken> {
        let mut woken = Vec::new();
        while let Some((ns, key)) = self.head() {
            let (ns, key) = (ns.clone(), key.clone());
            let Some((req, _)) = self.waiting.get(&key) else {
                break;
            };
            if !self.exceeding(&req.amounts).is_empty() {
                break;
            }
            let req = req.clone();
            self.unwait(&key);
            add(&mut self.reserved_sum, &req.amounts, 1);
            self.reserved.insert(
                key,
                Reservation {
                    amounts: req.amounts,
                    namespace: req.namespace.clone(),
                    name: req.name.clone(),
                    at: now,
                },
            );
            self.last_ns = Some(ns);
            woken.push(Woken {
                kind: req.kind,
                namespace: req.namespace,
                name: req.name,
            });
        }
        woken
    }

    fn in_use(&self) -> Amounts {
        let mut u = self.used.clone();
        add(&mut u, &self.reserved_sum, 1);
        u
    }

    /// Why `req` waits: what it exceeds itself, else what the first object in line exceeds.
    fn waiting_message(&self, req: &Request) -> String {
        let (Some(hard), in_use) = (&self.hard, self.in_use()) else {
            return format!("waiting for quota {}", self.name);
        };
        let own = self.exceeding(&req.amounts);
        if !own.is_empty() {
            return format!(
                "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                self.name,
                usage::pairs(&own, &req.amounts),
                usage::pairs(&own, &in_use),
                usage::pairs(&own, hard)
            );
        }
        let first = self
            .head()
            .and_then(|(_, k)| self.waiting.get(k))
            .map(|(r, _)| r);
        match first {
            Some(first) => {
                let blocked = self.exceeding(&first.amounts);
                format!(
                    "waiting behind earlier objects for quota {}: exceeded quota, requested: {}, used: {}, limited: {}",
                    self.name,
                    usage::pairs(&blocked, &first.amounts),
                    usage::pairs(&blocked, &in_use),
                    usage::pairs(&blocked, hard)
                )
            }
            None => format!("waiting for quota {}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::usage::ONE;
    use super::*;

    fn pods(n: i128) -> Amounts {
        Amounts::from([("pods".to_string(), n * ONE)])
    }

    fn req(ns: &str, name: &str, created: i64) -> Request {
        Request {
            kind: Kind::Pod,
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
        assert!(l.is_waiting(Kind::Pod, "a", "p3"));
        // A retry of an admitted pod is not counted again.
        assert_eq!(l.admit(req("a", "p1", 1), now).0, Decision::Admitted);
        assert_eq!(l.reserved()["pods"], 2 * ONE);
    }

    #[test]
    fn reservations_become_charges_without_double_counting() {
        let (mut l, now) = ledger(2);
        l.admit(req("a", "p1", 1), now);
        let key = (Kind::Pod, "a/p1".to_string());
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
        l.charge((Kind::Pod, "a/p0".into()), Some(pods(1)), now);
        // Arrive out of creation order.
        for (name, created) in [("p3", 3), ("p1", 1), ("p2", 2)] {
            assert!(matches!(
                l.admit(req("a", name, created), now).0,
                Decision::Waiting(_)
            ));
        }
        let woken = l.charge((Kind::Pod, "a/p0".into()), None, now);
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
        let woken = l.release(&(Kind::Pod, "a/p0".into()), now);
        assert_eq!(names(&woken), vec!["a/big"]);
        let woken = l.release(&(Kind::Pod, "a/p00".into()), now);
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
        let mut holder = (Kind::Pod, "x/hold".to_string());
        for _ in 0..4 {
            let woken = l.release(&holder, now);
            assert_eq!(woken.len(), 1);
            order.extend(names(&woken));
            holder = (
                Kind::Pod,
                format!("{}/{}", woken[0].namespace, woken[0].name),
            );
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
        assert!(l.is_waiting(Kind::Pod, "a", "huge"));
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
        assert!(l.forget(Kind::Pod, "a", "p1", now).is_empty());
        assert!(!l.is_waiting(Kind::Pod, "a", "p1"));
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
        l.charge((Kind::Pod, "u1".into()), Some(pods(1)), now);
        let (drift, _) = l.rebuild(
            HashMap::from([
                ((Kind::Pod, "u1".to_string()), pods(1)),
                ((Kind::Pod, "u2".to_string()), pods(1)),
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
}
