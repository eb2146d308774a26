//! Per-tenant quota, enforced by the syncer before it creates anything in the super cluster.
//!
//! A tenant's limits come from its VirtualCluster's `spec.quota.hard` (else the syncer's
//! `--default-tenant-quota`), with upstream ResourceQuota's names and semantics ([`usage`]). The
//! [`ledger`] keeps, per tenant, what its super objects use (fed by the super watches, rebuilt
//! from the super caches, so it is exact after a restart), reservations for objects admitted but
//! not yet seen, and the line of tenant objects waiting for room. A pod that does not fit is not
//! created: it stays Pending in the tenant with `PodScheduled=False`, reason
//! `TenantQuotaExceeded`, and a Warning event; when room frees up the line moves in creation
//! order, round robin across the tenant's namespaces. The limits are also written into every
//! super namespace of the tenant as a ResourceQuota ([`backstop`]), and published on the
//! VirtualCluster's `status.quota` and as metrics.

pub mod admit;
pub mod backstop;
pub mod housekeeping;
pub mod ledger;
mod publish;
pub mod track;
pub mod usage;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crds::tenancy;
use crds::{TenantQuotaStatus, VirtualCluster};
use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

pub use ledger::{Decision, Kind, Ledger, ObjKey, Request, Woken};
pub use usage::Amounts;

use crate::cache::Store;

/// Reason of the `PodScheduled=False` condition and the Warning event of a pod held back.
pub const REASON_EXCEEDED: &str = "TenantQuotaExceeded";

/// How long a reservation lives without its super object showing up.
pub const RESERVATION_TTL: Duration = Duration::from_secs(300);

/// Period of the housekeeping loop (expiry, status, metrics, backstops).
pub const TICK: Duration = Duration::from_secs(1);

/// One tenant's quota state.
#[derive(Default)]
pub struct Entry {
    ledger: Ledger,
    /// The VirtualCluster (namespace, name).
    vc: Option<(String, String)>,
    /// The limits as given (quantities as written).
    hard_text: Option<BTreeMap<String, String>>,
    /// What `status.quota` says (`None`: not known yet).
    published: Option<Option<TenantQuotaStatus>>,
    /// Resources with `syncer_tenant_quota_*` series.
    gauges: Vec<String>,
}

/// Every tenant's quota, by cluster key.
#[derive(Default)]
pub struct Quotas {
    tenants: Mutex<HashMap<String, Entry>>,
    /// The `vc-tenant-quota` ResourceQuotas of the super cluster.
    pub backstops: Arc<Store<ResourceQuota>>,
    /// Backstop writes by super namespace: the limits last written and when.
    backstop_writes: Mutex<HashMap<String, (Amounts, Instant)>>,
}

impl Quotas {
    /// Every tenant's entry, locked.
    pub fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // Every update leaves the ledger consistent, so a poisoned lock is still usable.
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the entry of tenant `key` (created when missing).
    pub fn with<T>(&self, key: &str, f: impl FnOnce(&mut Entry) -> T) -> T {
        let mut map = self.lock();
        f(map.entry(key.to_string()).or_default())
    }

    /// Applies a VirtualCluster's limits (`spec.quota.hard`, else `default`; empty means
    /// unlimited) to its tenant; returns the objects to reconcile again.
    pub fn set_limits(
        &self,
        key: &str,
        vc: &VirtualCluster,
        default: &BTreeMap<String, String>,
    ) -> Result<Vec<Woken>, usage::UsageError> {
        let vc_ns = vc.namespace().unwrap_or_default();
        let vc_name = vc.name_any();
        let (text, name) = match &vc.spec.quota {
            Some(q) => (
                q.hard.clone(),
                format!("spec.quota.hard of VirtualCluster {vc_ns}/{vc_name}"),
            ),
            None => (
                default.clone(),
                "the syncer's --default-tenant-quota".to_string(),
            ),
        };
        let text = (!text.is_empty()).then_some(text);
        let hard = text.as_ref().map(usage::parse_hard).transpose()?;
        let now = Instant::now();
        Ok(self.with(key, |e| {
            e.vc = Some((vc_ns, vc_name));
            if e.published.is_none() {
                e.published = Some(vc.status.as_ref().and_then(|s| s.quota.clone()));
            }
            e.hard_text = text;
            e.ledger.set_hard(hard, &name, now)
        }))
    }

    /// The limits of a tenant (`None`: unlimited).
    pub fn hard(&self, key: &str) -> Option<Amounts> {
        self.lock().get(key).and_then(|e| e.ledger.hard().cloned())
    }

    /// The limits of a tenant as written in the VirtualCluster (or the default).
    pub fn hard_text(&self, key: &str) -> Option<BTreeMap<String, String>> {
        self.lock().get(key).and_then(|e| e.hard_text.clone())
    }

    /// What a tenant's super objects use now.
    pub fn used(&self, key: &str) -> Amounts {
        self.lock()
            .get(key)
            .map(|e| e.ledger.used().clone())
            .unwrap_or_default()
    }

    /// Objects of a tenant waiting in line.
    pub fn waiting(&self, key: &str) -> usize {
        self.lock().get(key).map_or(0, |e| e.ledger.waiting_len())
    }

    /// Whether the tenant object waits for quota (the patrol leaves it alone).
    pub fn is_waiting(&self, key: &str, kind: Kind, ns: &str, name: &str) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|e| e.ledger.is_waiting(kind, ns, name))
    }

    /// Asks the tenant's ledger whether `req` may be created now.
    pub fn admit(&self, key: &str, req: Request) -> (Decision, Vec<Woken>) {
        self.with(key, |e| e.ledger.admit(req, Instant::now()))
    }

    /// Records an object that cannot be counted under the current limits.
    pub fn refuse(&self, key: &str, w: Woken, uid: &str) -> Vec<Woken> {
        self.with(key, |e| e.ledger.refuse(w, uid, Instant::now()))
    }

    /// Ends the reservation of an object whose creation failed.
    pub fn release(&self, key: &str, obj: &ObjKey) -> Vec<Woken> {
        self.with(key, |e| e.ledger.release(obj, Instant::now()))
    }

    /// Forgets a tenant object that is gone or being deleted.
    pub fn forget(&self, key: &str, kind: Kind, ns: &str, name: &str) -> Vec<Woken> {
        self.with(key, |e| e.ledger.forget(kind, ns, name, Instant::now()))
    }

    /// Charges (or, with `None`, uncharges) the super object `meta` to its tenant; returns
    /// the tenant and what the line could take.
    pub fn observe(
        &self,
        kind: Kind,
        meta: &ObjectMeta,
        amounts: Option<Amounts>,
    ) -> Option<(String, Vec<Woken>)> {
        let (cluster, uid) = charge_key(meta)?;
        let woken = self.with(&cluster, |e| {
            e.ledger.charge((kind, uid), amounts, Instant::now())
        });
        Some((cluster, woken))
    }
}

/// The tenant (cluster key) and tenant uid a super object is charged under.
pub fn charge_key(meta: &ObjectMeta) -> Option<(String, String)> {
    let ann = meta.annotations.as_ref()?;
    let cluster = ann.get(tenancy::ANNOTATION_CLUSTER)?.clone();
    let uid = ann
        .get(tenancy::ANNOTATION_UID)
        .or(meta.uid.as_ref())?
        .clone();
    Some((cluster, uid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Resource;

    const POD: Kind = Resource::namespaced("pods");

    #[test]
    fn limits_come_from_the_vc_else_the_default() {
        let q = Quotas::default();
        let mut vc = VirtualCluster::new("a", crds::VirtualClusterSpec::default());
        vc.metadata.namespace = Some("t".into());
        let default = BTreeMap::from([("pods".to_string(), "10".to_string())]);
        q.set_limits("k", &vc, &default).expect("limits");
        assert_eq!(q.hard("k").map(|h| h["pods"]), Some(10 * usage::ONE));
        vc.spec.quota = Some(crds::TenantQuota {
            hard: BTreeMap::from([("requests.cpu".to_string(), "2".to_string())]),
        });
        q.set_limits("k", &vc, &default).expect("limits");
        assert_eq!(
            q.hard("k"),
            Some(Amounts::from([("requests.cpu".to_string(), 2000)]))
        );
        vc.spec.quota = Some(crds::TenantQuota::default());
        q.set_limits("k", &vc, &default).expect("limits");
        assert_eq!(q.hard("k"), None);
        vc.spec.quota = Some(crds::TenantQuota {
            hard: BTreeMap::from([("pods".to_string(), "many".to_string())]),
        });
        assert!(q.set_limits("k", &vc, &default).is_err());
    }

    #[test]
    fn super_objects_are_charged_by_tenant_uid() {
        let q = Quotas::default();
        let meta = ObjectMeta {
            name: Some("web".into()),
            uid: Some("super-uid".into()),
            annotations: Some(BTreeMap::from([
                (tenancy::ANNOTATION_CLUSTER.to_string(), "k".to_string()),
                (
                    tenancy::ANNOTATION_UID.to_string(),
                    "tenant-uid".to_string(),
                ),
            ])),
            ..ObjectMeta::default()
        };
        let one = Amounts::from([("pods".to_string(), usage::ONE)]);
        let (key, _) = q.observe(POD, &meta, Some(one.clone())).expect("charged");
        assert_eq!(key, "k");
        q.observe(POD, &meta, Some(one)).expect("charged");
        assert_eq!(q.used("k")["pods"], usage::ONE);
        q.observe(POD, &meta, None).expect("freed");
        assert!(q.used("k").is_empty());
        assert!(q.observe(POD, &ObjectMeta::default(), None).is_none());
    }
}
