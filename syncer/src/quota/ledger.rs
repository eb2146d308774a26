//! One tenant's quota ledger: what its super objects use (charged, keyed by the tenant object's
//! uid, so a retried pod is never counted twice), what was admitted but is not in the super
//! cache yet (reserved), and the line of objects waiting for room, served in creation order
//! within a namespace and round robin across namespaces. Pure: time is passed in.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::time::{Duration, Instant};

use super::usage::{self, Amounts};
use crate::queue::key::Resource;

/// The resource of a counted object (pods, services and claims are counted).
pub type Kind = Resource;

/// An object in the ledger: its kind and the tenant object's uid.
pub type ObjKey = (Kind, String);

/// A tenant object asking to be created in the super cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Resource.
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
    /// Resource.
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
mod tests;
