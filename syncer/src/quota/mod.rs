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

pub mod backstop;
pub mod ledger;
pub mod usage;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crds::tenancy;
use crds::{TenantQuotaStatus, VirtualCluster};
use k8s_openapi::api::core::v1::{Container, PersistentVolumeClaim, Pod, ResourceQuota, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};

pub use ledger::{Decision, Kind, Ledger, ObjKey, Request, Woken};
pub use usage::Amounts;

use crate::cache::{Change, Store};
use crate::context::Context;
use crate::convert::ConvertError;
use crate::queue::{Resource as Res, WorkKey};
use crate::reconcile::{SyncError, Synced};
use crate::tenant::Tenant;

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

/// The line's order of a tenant object: its creation time in seconds.
fn created(meta: &ObjectMeta) -> i64 {
    meta.creation_timestamp
        .as_ref()
        .map_or(0, |t| t.0.as_second())
}

/// Admission of a tenant pod right before its super pod is created (`desired`). `None`: go
/// ahead (its usage is reserved); `Some`: it is held back — marked unschedulable in the tenant,
/// with a Warning event — and waits in line until room frees up.
pub async fn admit_pod(
    ctx: &Context,
    tenant: &Tenant,
    key: &WorkKey,
    v: &Pod,
    desired: &Pod,
) -> Result<Option<Synced>, SyncError> {
    let uid = v.metadata.uid.clone().unwrap_or_default();
    let me = Woken {
        kind: Kind::Pod,
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    };
    if let Some(hard) = ctx.quota.hard(&tenant.key) {
        let missing = usage::missing_constraints(desired, &hard);
        if !missing.is_empty() {
            let woken = ctx.quota.refuse(&tenant.key, me, &uid);
            requeue(ctx, &tenant.key, woken);
            let msg = format!(
                "failed quota: {}: must specify {}",
                quota_name(ctx, &tenant.key),
                missing.join(",")
            );
            hold(ctx, tenant, key, v, &msg).await?;
            return Ok(Some(Synced::Unchanged));
        }
    }
    let amounts = usage::pod(desired).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    let req = Request {
        kind: Kind::Pod,
        uid,
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        created: created(&v.metadata),
        amounts,
    };
    let (decision, woken) = ctx.quota.admit(&tenant.key, req);
    requeue(ctx, &tenant.key, woken);
    match decision {
        Decision::Admitted => Ok(None),
        Decision::Waiting(msg) | Decision::Refused(msg) => {
            hold(ctx, tenant, key, v, &msg).await?;
            Ok(Some(Synced::Unchanged))
        }
    }
}

fn quota_name(ctx: &Context, key: &str) -> String {
    ctx.quota
        .lock()
        .get(key)
        .and_then(|e| e.vc.clone())
        .map(|(ns, name)| format!("spec.quota.hard of VirtualCluster {ns}/{name}"))
        .unwrap_or_else(|| "the tenant quota".into())
}

/// Marks a held-back pod `PodScheduled=False`/`TenantQuotaExceeded` and records the Warning
/// event, once: a pod already marked keeps its first message (rewriting it on every retry
/// would make every waiting pod churn while the line moves).
async fn hold(
    ctx: &Context,
    tenant: &Tenant,
    key: &WorkKey,
    v: &Pod,
    message: &str,
) -> Result<(), SyncError> {
    let marked = v
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some(REASON_EXCEEDED)
        });
    if marked {
        return Ok(());
    }
    crate::reconcile::pod::mark_unschedulable(ctx, tenant, v, REASON_EXCEEDED, message).await?;
    crate::recorder::warn_tenant_object(ctx, key, REASON_EXCEEDED, message).await;
    Ok(())
}

/// After a failed create: a definite refusal ends the reservation (a timeout keeps it, the
/// object may exist; the reservation then expires or turns into a charge).
pub fn create_failed(ctx: &Context, tenant_key: &str, kind: Kind, uid: &str, err: &SyncError) {
    if let SyncError::Kube(kube::Error::Api(s)) = err
        && s.code != 409
    {
        let woken = ctx.quota.release(tenant_key, &(kind, uid.to_string()));
        requeue(ctx, tenant_key, woken);
    }
}

/// Forgets a tenant object that is gone or being deleted (it leaves the line).
pub fn forget(ctx: &Context, tenant_key: &str, kind: Kind, ns: &str, name: &str) {
    let woken = ctx.quota.forget(tenant_key, kind, ns, name);
    requeue(ctx, tenant_key, woken);
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
        publish(&ctx).await;
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
            let meta = match kind {
                Kind::Pod => t.caches.pods.get(ns, name).map(|o| o.metadata.clone()),
                Kind::Service => t.caches.services.get(ns, name).map(|o| o.metadata.clone()),
                Kind::Claim => t.caches.pvcs.get(ns, name).map(|o| o.metadata.clone()),
            };
            meta.is_some_and(|m| {
                m.deletion_timestamp.is_none() && (uid.is_empty() || m.uid.as_deref() == Some(uid))
            })
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

/// The `status.quota` a tenant should show.
fn status_of(e: &Entry) -> Option<TenantQuotaStatus> {
    let hard = e.hard_text.clone()?;
    let used = e.ledger.used();
    let used = hard
        .keys()
        .filter(|r| usage::is_tracked(r))
        .map(|r| {
            (
                r.clone(),
                usage::format(r, used.get(r).copied().unwrap_or(0)),
            )
        })
        .collect();
    Some(TenantQuotaStatus { hard, used })
}

/// Writes `status.quota` of VirtualClusters whose quota or usage changed, and the gauges.
async fn publish(ctx: &Context) {
    let mut writes = Vec::new();
    {
        let mut map = ctx.quota.lock();
        for (key, e) in map.iter_mut() {
            if ctx.tenant(key).is_none() {
                continue;
            }
            gauges(ctx, key, e);
            let want = status_of(e);
            let (Some(vc), Some(published)) = (&e.vc, &e.published) else {
                continue;
            };
            if *published != want {
                writes.push((key.clone(), vc.clone(), want));
            }
        }
    }
    for (key, (ns, name), want) in writes {
        match write_status(ctx, &ns, &name, want.as_ref()).await {
            Ok(()) => ctx.quota.with(&key, |e| e.published = Some(want)),
            Err(e) => {
                tracing::warn!(tenant = key, error = %e, "writing status.quota of the VirtualCluster failed")
            }
        }
    }
}

/// Sets the tenant's `syncer_tenant_quota_{hard,used}` gauges (in units: cores, bytes,
/// objects), dropping series of resources no longer limited.
fn gauges(ctx: &Context, key: &str, e: &mut Entry) {
    let hard = e.ledger.hard().cloned().unwrap_or_default();
    let m = &ctx.metrics;
    for r in &e.gauges {
        if !hard.contains_key(r) {
            let _ = m.quota_hard.remove_label_values(&[key, r]);
            let _ = m.quota_used.remove_label_values(&[key, r]);
        }
    }
    let used = e.ledger.used();
    let units = |milli: i128| milli as f64 / usage::ONE as f64;
    for (r, limit) in &hard {
        m.quota_hard.with_label_values(&[key, r]).set(units(*limit));
        if usage::is_tracked(r) {
            m.quota_used
                .with_label_values(&[key, r])
                .set(units(used.get(r).copied().unwrap_or(0)));
        }
    }
    e.gauges = hard.into_keys().collect();
}

/// Replaces (or removes) `status.quota` with a JSON patch; a VirtualCluster without a status
/// yet gets a merge patch.
async fn write_status(
    ctx: &Context,
    ns: &str,
    name: &str,
    want: Option<&TenantQuotaStatus>,
) -> Result<(), kube::Error> {
    let api: Api<VirtualCluster> = Api::namespaced(ctx.client.clone(), ns);
    let pp = PatchParams::default();
    let ops = match want {
        Some(q) => serde_json::json!([{"op": "add", "path": "/status/quota", "value": q}]),
        None => serde_json::json!([{"op": "remove", "path": "/status/quota"}]),
    };
    let patch: Patch<serde_json::Value> =
        Patch::Json(serde_json::from_value(ops).map_err(kube::Error::SerdeError)?);
    match api.patch_status(name, &pp, &patch).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        // No status yet (add needs the parent), or no quota to remove.
        Err(kube::Error::Api(s)) if s.code == 422 || s.code == 400 || s.code == 500 => {
            let body = serde_json::json!({"status": {"quota": want}});
            api.patch_status(name, &pp, &Patch::Merge(&body))
                .await
                .map(drop)
        }
        Err(e) => Err(e),
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
