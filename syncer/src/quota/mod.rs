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

mod admit;
pub mod backstop;
pub mod ledger;
mod publish;
pub mod usage;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crds::tenancy;
use crds::{TenantQuotaStatus, VirtualCluster};
use k8s_openapi::api::core::v1::{Container, PersistentVolumeClaim, Pod, ResourceQuota, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

pub use admit::{
    admit_object, admit_pod, create_failed, forget, kind_of, object_create_failed, waits,
};
pub use ledger::{Decision, Kind, Ledger, ObjKey, Request, Woken};
pub use usage::Amounts;

use crate::cache::{Change, Store};
use crate::context::Context;
use crate::queue::{Resource as Res, WorkKey};

/// Reason of the `PodScheduled=False` condition and the Warning event of a pod held back.
pub const REASON_EXCEEDED: &str = "TenantQuotaExceeded";

/// How long a reservation lives without its super object showing up.
const RESERVATION_TTL: Duration = Duration::from_secs(300);

/// Period of the housekeeping loop (expiry, status, metrics, backstops).
const TICK: Duration = Duration::from_secs(1);

/// One tenant's quota state.
#[derive(Default)]
struct Entry {
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
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // Every update leaves the ledger consistent, so a poisoned lock is still usable.
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with<T>(&self, key: &str, f: impl FnOnce(&mut Entry) -> T) -> T {
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

    /// Whether the tenant object waits for quota (the patroller leaves it alone).
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
fn charge_key(meta: &ObjectMeta) -> Option<(String, String)> {
    let ann = meta.annotations.as_ref()?;
    let cluster = ann.get(tenancy::ANNOTATION_CLUSTER)?.clone();
    let uid = ann
        .get(tenancy::ANNOTATION_UID)
        .or(meta.uid.as_ref())?
        .clone();
    Some((cluster, uid))
}

fn res_of(kind: Kind) -> Res {
    match kind {
        Kind::Pod => Res::Pod,
        Kind::Service => Res::Service,
        Kind::Claim => Res::PersistentVolumeClaim,
    }
}

/// Queues downward work for woken objects of tenant `key`.
pub fn requeue(ctx: &Context, key: &str, woken: Vec<Woken>) {
    if woken.is_empty() {
        return;
    }
    let Some(t) = ctx.tenant(key) else { return };
    for w in woken {
        ctx.down
            .add(WorkKey::new(&t.key, res_of(w.kind), w.namespace, w.name));
    }
}

/// What a super pod uses; a pod whose quantities cannot be read still counts as a pod.
fn super_pod_usage(p: &Pod) -> Amounts {
    usage::pod(p).unwrap_or_else(|e| {
        tracing::debug!(pod = %p.name_any(), error = %e, "super pod with an unreadable quantity");
        let mut a = Amounts::from([("count/pods".to_string(), usage::ONE)]);
        if !usage::is_terminal(p) {
            a.insert("pods".into(), usage::ONE);
        }
        a
    })
}

/// Super pod watch hook: charges the pod's usage (terminated pods only as objects) or, when
/// it is gone, frees it, and admits what now fits.
pub fn on_super_pod(ctx: &Context, c: &Change<'_, Pod>) {
    let (meta, amounts) = match c {
        Change::Applied(p) => (&p.metadata, Some(super_pod_usage(p))),
        Change::Deleted(p) => (&p.metadata, None),
    };
    if let Some((key, woken)) = ctx.quota.observe(Kind::Pod, meta, amounts) {
        requeue(ctx, &key, woken);
    }
}

/// Super service watch hook.
pub fn on_super_service(ctx: &Context, c: &Change<'_, Service>) {
    let (meta, amounts) = match c {
        Change::Applied(s) => (&s.metadata, Some(usage::service(s))),
        Change::Deleted(s) => (&s.metadata, None),
    };
    if let Some((key, woken)) = ctx.quota.observe(Kind::Service, meta, amounts) {
        requeue(ctx, &key, woken);
    }
}

/// Super claim watch hook.
pub fn on_super_claim(ctx: &Context, c: &Change<'_, PersistentVolumeClaim>) {
    let (meta, amounts) = match c {
        Change::Applied(p) => (
            &p.metadata,
            Some(usage::claim(p).unwrap_or_else(|_| {
                Amounts::from([("persistentvolumeclaims".to_string(), usage::ONE)])
            })),
        ),
        Change::Deleted(p) => (&p.metadata, None),
    };
    if let Some((key, woken)) = ctx.quota.observe(Kind::Claim, meta, amounts) {
        requeue(ctx, &key, woken);
    }
}

/// Keeps what the syncer needs of a super pod (see [`crate::convert::pod::prune_super`]) plus
/// what its quota usage is computed from: container resources and the pod's overhead and
/// pod-level resources.
pub fn prune_super_pod(pod: &mut Pod) {
    let spec = pod.spec.as_ref();
    let resources = |cs: Option<&Vec<Container>>| -> Vec<_> {
        cs.into_iter()
            .flatten()
            .map(|c| (c.resources.clone(), c.restart_policy.clone()))
            .collect()
    };
    let containers = resources(spec.map(|s| &s.containers));
    let init = resources(spec.and_then(|s| s.init_containers.as_ref()));
    let overhead = spec.and_then(|s| s.overhead.clone());
    let pod_level = spec.and_then(|s| s.resources.clone());
    crate::convert::pod::prune_super(pod);
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    let restore = |cs: &mut [Container], kept: Vec<_>| {
        for (c, (r, policy)) in cs.iter_mut().zip(kept) {
            c.resources = r;
            c.restart_policy = policy;
        }
    };
    restore(&mut spec.containers, containers);
    if let Some(cs) = spec.init_containers.as_mut() {
        restore(cs, init);
    }
    spec.overhead = overhead;
    spec.resources = pod_level;
}

/// Applies a VirtualCluster's limits to its tenant (called whenever the registry sees it);
/// a change moves the line at once.
pub fn set_limits(ctx: &Context, vc: &VirtualCluster, key: &str) {
    match ctx
        .quota
        .set_limits(key, vc, &ctx.config.default_tenant_quota)
    {
        Ok(woken) => requeue(ctx, key, woken),
        Err(e) => {
            tracing::warn!(tenant = key, error = %e, "invalid quota on the VirtualCluster; keeping the previous limits")
        }
    }
}

/// Housekeeping until cancelled: expires reservations and drops waiting objects that are
/// gone, publishes `status.quota` and the metrics, keeps the backstop ResourceQuotas, and
/// rebuilds the ledgers from the super caches every patrol interval.
pub async fn run(ctx: Arc<Context>) {
    backstop::spawn_watch(&ctx);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_rebuild = Instant::now();
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if last_rebuild.elapsed() >= ctx.config.patrol_interval() {
            last_rebuild = Instant::now();
            rebuild(&ctx);
        }
        expire(&ctx);
        publish::publish(&ctx).await;
        backstop::ensure(&ctx).await;
    }
}

/// Drops reservations and waiting objects whose tenant object is gone (tenants whose caches
/// are synced only).
fn expire(ctx: &Context) {
    let keys: Vec<String> = ctx.quota.lock().keys().cloned().collect();
    for key in keys {
        let Some(t) = ctx.tenant(&key) else { continue };
        if !t.caches_synced() {
            continue;
        }
        let alive = |kind: Kind, ns: &str, name: &str, uid: &str| -> bool {
            let ok = |m: &ObjectMeta| {
                m.deletion_timestamp.is_none() && (uid.is_empty() || m.uid.as_deref() == Some(uid))
            };
            match kind {
                Kind::Pod => t.caches.pods.get(ns, name).is_some_and(|o| ok(&o.metadata)),
                Kind::Service => t
                    .caches
                    .services
                    .get(ns, name)
                    .is_some_and(|o| ok(&o.metadata)),
                Kind::Claim => t.caches.pvcs.get(ns, name).is_some_and(|o| ok(&o.metadata)),
            }
        };
        let woken = ctx.quota.with(&key, |e| {
            e.ledger.expire(Instant::now(), RESERVATION_TTL, alive)
        });
        requeue(ctx, &key, woken);
    }
}

/// Rebuilds every ledger's charges from the super caches (under the ledger lock, so watch
/// updates land after it); a difference means a missed watch event and is logged.
pub fn rebuild(ctx: &Context) {
    if !ctx.supers_synced() {
        return;
    }
    let mut map = ctx.quota.lock();
    let mut fresh: HashMap<String, HashMap<ObjKey, Amounts>> = HashMap::new();
    let mut put = |kind: Kind, meta: &ObjectMeta, a: Amounts| {
        if let Some((cluster, uid)) = charge_key(meta) {
            fresh.entry(cluster).or_default().insert((kind, uid), a);
        }
    };
    for p in ctx.supers.pods.list() {
        put(Kind::Pod, &p.metadata, super_pod_usage(&p));
    }
    for s in ctx.supers.services.list() {
        put(Kind::Service, &s.metadata, usage::service(&s));
    }
    for c in ctx.supers.pvcs.list() {
        if let Ok(a) = usage::claim(&c) {
            put(Kind::Claim, &c.metadata, a);
        }
    }
    let mut woken_all = Vec::new();
    let keys: std::collections::BTreeSet<String> =
        map.keys().chain(fresh.keys()).cloned().collect();
    for key in keys {
        let charged = fresh.remove(&key).unwrap_or_default();
        let e = map.entry(key.clone()).or_default();
        let (drift, woken) = e.ledger.rebuild(charged, Instant::now());
        for d in drift {
            tracing::warn!(
                tenant = key,
                resource = d.resource,
                ledger = d.ledger,
                actual = d.actual,
                "quota ledger differed from the super caches; rebuilt"
            );
        }
        woken_all.push((key, woken));
    }
    drop(map);
    for (key, woken) in woken_all {
        requeue(ctx, &key, woken);
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    use super::*;

    #[test]
    fn pruned_super_pods_keep_what_usage_needs() {
        let mut p = Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: Some("nginx".into()),
                    resources: Some(ResourceRequirements {
                        requests: Some(BTreeMap::from([(
                            "cpu".to_string(),
                            Quantity("250m".into()),
                        )])),
                        ..ResourceRequirements::default()
                    }),
                    env: Some(vec![]),
                    ..Container::default()
                }],
                overhead: Some(BTreeMap::from([(
                    "cpu".to_string(),
                    Quantity("10m".into()),
                )])),
                hostname: Some("h".into()),
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        let before = usage::pod(&p).expect("usage");
        prune_super_pod(&mut p);
        assert_eq!(usage::pod(&p).expect("usage"), before);
        let spec = p.spec.as_ref().expect("spec");
        assert_eq!(spec.hostname, None);
        assert_eq!(spec.containers[0].env, None);
        assert_eq!(before["requests.cpu"], 260);
    }

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
        let (key, _) = q
            .observe(Kind::Pod, &meta, Some(one.clone()))
            .expect("charged");
        assert_eq!(key, "k");
        q.observe(Kind::Pod, &meta, Some(one)).expect("charged");
        assert_eq!(q.used("k")["pods"], usage::ONE);
        q.observe(Kind::Pod, &meta, None).expect("freed");
        assert!(q.used("k").is_empty());
        assert!(q.observe(Kind::Pod, &ObjectMeta::default(), None).is_none());
    }
}
