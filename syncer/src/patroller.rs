//! The patrol loop: periodically compares every healthy tenant's caches with the super caches,
//! per resource, and queues a work item for each difference (missing, drifted, stale, orphan).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Namespace, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::Ingress;
use kube::ResourceExt;

use crate::context::Context;
use crate::convert::{self, TenantCtx, owned_by, recorded_uid, secret, super_meta};
use crate::patrol::{Finding, Sides, diff};
use crate::queue::{Resource as Res, WorkKey};
use crate::reconcile::down::{DownSync, wanted_tenant_object};
use crate::tenant::Tenant;

type Key = (String, String);

/// Runs a patrol scan every `patrol_interval`, forever.
pub async fn run(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(ctx.config.patrol_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let took = scan(&ctx);
        tracing::debug!(ms = took.as_millis(), "patrol scan done");
    }
}

/// One full scan over every healthy tenant; returns how long it took.
pub fn scan(ctx: &Context) -> std::time::Duration {
    let start = Instant::now();
    let owned = owned_namespaces(ctx);
    for t in ctx.tenants() {
        if !t.is_healthy() {
            continue;
        }
        scan_tenant(ctx, &t, owned.get(&*t.key).map_or(&[], Vec::as_slice));
    }
    crate::quota::backstop::patrol(ctx);
    let took = start.elapsed();
    ctx.metrics.patrol_duration.observe(took.as_secs_f64());
    took
}

/// A full resync of one tenant, run when it becomes healthy: the patrol scan, plus upward work
/// for every super object it owns (status may have changed while nobody watched).
pub fn resync_tenant(ctx: &Context, t: &Tenant) {
    let owned: Vec<Arc<Namespace>> = ctx
        .supers
        .namespaces
        .list()
        .into_iter()
        .filter(|p| owned_by(&p.metadata, &t.key))
        .collect();
    scan_tenant(ctx, t, &owned);
    let namespaces = super_namespaces(t, &t.ctx(), &owned);
    for p in in_namespaces(&ctx.supers.pods, &namespaces) {
        if let Some((ns, name)) = super_key(&p.metadata, &t.key) {
            ctx.up.add(WorkKey::new(&t.key, Res::Pod, ns, name));
        }
    }
    for s in in_namespaces(&ctx.supers.services, &namespaces) {
        if let Some((ns, name)) = super_key(&s.metadata, &t.key) {
            ctx.up.add(WorkKey::new(&t.key, Res::Service, ns, name));
        }
    }
    for c in in_namespaces(&ctx.supers.pvcs, &namespaces) {
        if let Some((ns, name)) = super_key(&c.metadata, &t.key) {
            ctx.up
                .add(WorkKey::new(&t.key, Res::PersistentVolumeClaim, ns, name));
        }
    }
}

/// The (tenant, super) resourceVersions of a pod pair.
fn versions(v: &Pod, p: &Pod) -> (String, String) {
    let rv = |x: &Pod| x.metadata.resource_version.clone().unwrap_or_default();
    (rv(v), rv(p))
}

/// Whether the tenant pod lags behind its super pod (binding, phase, IP).
fn status_lags(v: &Pod, p: &Pod) -> bool {
    fn node(x: &Pod) -> Option<&str> {
        x.spec.as_ref().and_then(|s| s.node_name.as_deref())
    }
    fn phase(x: &Pod) -> Option<&str> {
        x.status.as_ref().and_then(|s| s.phase.as_deref())
    }
    fn ip(x: &Pod) -> Option<&str> {
        x.status.as_ref().and_then(|s| s.pod_ip.as_deref())
    }
    node(v) != node(p) || phase(v) != phase(p) || ip(v) != ip(p)
}

/// Queues upward work for pods whose tenant copy lags behind the super pod (binding, phase, IP).
fn pod_status_drift(ctx: &Context, t: &Tenant, tctx: &TenantCtx) {
    let memo = lock_memo(t);
    for v in t.caches.pods.list() {
        let ns = v.namespace().unwrap_or_default();
        let Ok(super_ns) = tctx.super_ns(&ns) else {
            continue;
        };
        let Some(p) = ctx.supers.pods.get(&super_ns, &v.name_any()) else {
            continue;
        };
        if recorded_uid(&p.metadata) != v.metadata.uid.as_deref() {
            continue;
        }
        let key = key_of(&ns, &v.name_any());
        if memo.get(&key) == Some(&versions(&v, &p)) {
            continue;
        }
        if status_lags(&v, &p) {
            ctx.metrics
                .patrol_repairs
                .with_label_values(&[&*t.key, "pods", "status_lag"])
                .inc();
            ctx.up.add(WorkKey::new(&t.key, Res::Pod, ns, v.name_any()));
        }
    }
}

#[allow(clippy::type_complexity)]
fn lock_memo(
    t: &Tenant,
) -> std::sync::MutexGuard<'_, std::collections::HashMap<Key, (String, String)>> {
    // Entries are whole values: a poisoned map is still consistent.
    t.patrol_pods.lock().unwrap_or_else(|e| e.into_inner())
}

/// The super namespaces of every tenant, by cluster key, from one pass over the super cache.
fn owned_namespaces(ctx: &Context) -> HashMap<String, Vec<Arc<Namespace>>> {
    let mut out: HashMap<String, Vec<Arc<Namespace>>> = HashMap::new();
    for p in ctx.supers.namespaces.list() {
        let owner = p
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crds::tenancy::ANNOTATION_CLUSTER))
            .cloned();
        if let Some(owner) = owner {
            out.entry(owner).or_default().push(p);
        }
    }
    out
}

/// Scans one tenant; `owned` are the super namespaces it owns.
fn scan_tenant(ctx: &Context, t: &Tenant, owned: &[Arc<Namespace>]) {
    let tctx = t.ctx();
    let supers = super_namespaces(t, &tctx, owned);
    report(ctx, t, Res::Namespace, namespaces(ctx, t, &tctx, owned));
    report(ctx, t, Res::Pod, pods(ctx, t, &tctx, &supers));
    pod_status_drift(ctx, t, &tctx);
    report(
        ctx,
        t,
        Res::Service,
        generic::<Service>(ctx, t, &tctx, &supers),
    );
    report(
        ctx,
        t,
        Res::Secret,
        generic::<Secret>(ctx, t, &tctx, &supers),
    );
    report(
        ctx,
        t,
        Res::ConfigMap,
        generic::<ConfigMap>(ctx, t, &tctx, &supers),
    );
    report(
        ctx,
        t,
        Res::ServiceAccount,
        generic::<ServiceAccount>(ctx, t, &tctx, &supers),
    );
    report(
        ctx,
        t,
        Res::Endpoints,
        generic::<Endpoints>(ctx, t, &tctx, &supers),
    );
    report(
        ctx,
        t,
        Res::PersistentVolumeClaim,
        generic::<PersistentVolumeClaim>(ctx, t, &tctx, &supers),
    );
    if t.sync_ingresses {
        report(
            ctx,
            t,
            Res::Ingress,
            generic::<Ingress>(ctx, t, &tctx, &supers),
        );
    }
    for v in t.caches.nodes.list() {
        ctx.up
            .add(WorkKey::new(&t.key, Res::Node, "", v.name_any()));
    }
    crate::registry::queue_public(ctx, t);
}

/// The super namespaces that can hold this tenant's copies: those of its namespaces and every
/// super namespace it owns (a tenant namespace may be gone while its copy lingers). Scanning these
/// instead of every super object keeps a scan linear in the objects, not tenants × objects.
fn super_namespaces(t: &Tenant, tctx: &TenantCtx, owned: &[Arc<Namespace>]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = t
        .caches
        .namespaces
        .list()
        .iter()
        .filter_map(|v| tctx.super_ns(&v.name_any()).ok())
        .collect();
    out.extend(owned.iter().map(|p| p.name_any()));
    out
}

/// Objects of `store` in the given super namespaces.
fn in_namespaces<K: kube::Resource>(
    store: &crate::cache::Store<K>,
    namespaces: &BTreeSet<String>,
) -> Vec<Arc<K>> {
    namespaces
        .iter()
        .flat_map(|ns| store.list_namespace(ns))
        .collect()
}

fn report(ctx: &Context, t: &Tenant, res: Res, findings: Vec<(Finding, Key)>) {
    for (finding, (ns, name)) in findings {
        ctx.metrics
            .patrol_repairs
            .with_label_values(&[&*t.key, res.as_str(), finding.as_str()])
            .inc();
        ctx.down.add(WorkKey::new(&t.key, res, ns, name));
    }
}

fn key_of(ns: &str, name: &str) -> Key {
    (ns.to_string(), name.to_string())
}

/// The tenant key of an owned super object: tenant namespace from its annotations.
fn super_key(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    cluster: &str,
) -> Option<Key> {
    if !owned_by(meta, cluster) {
        return None;
    }
    let ann = meta.annotations.as_ref()?;
    let ns = ann.get(crds::tenancy::ANNOTATION_NAMESPACE)?;
    let name = ann
        .get(crds::tenancy::LABEL_SECRET_NAME)
        .or(meta.name.as_ref())?;
    Some(key_of(ns, name))
}

fn generic<K: DownSync>(
    ctx: &Context,
    t: &Tenant,
    tctx: &TenantCtx,
    supers: &BTreeSet<String>,
) -> Vec<(Finding, Key)> {
    let mut sides: Sides<Key> = Sides::default();
    for v in K::tenant_store(t).list() {
        let (ns, name) = (v.namespace().unwrap_or_default(), v.name_any());
        let key = WorkKey::new(&t.key, Res::Pod, ns.clone(), name.clone());
        // Objects waiting for quota are re-queued by the quota ledger when their turn comes.
        if wanted_tenant_object::<K>(t, &key).is_some()
            && !crate::quota::waits(ctx, &t.key, &K::kind(&()), &ns, &name)
        {
            sides
                .tenant
                .insert(key_of(&ns, &name), v.meta().uid.clone().unwrap_or_default());
        }
    }
    let mut copies: BTreeMap<Key, Arc<K>> = BTreeMap::new();
    for p in in_namespaces(K::super_store(&ctx.supers), supers) {
        if secret::is_token_secret(p.meta()) {
            continue;
        }
        if let Some(k) = super_key(p.meta(), &t.key) {
            sides
                .super_
                .insert(k.clone(), recorded_uid(p.meta()).map(str::to_string));
            copies.insert(k, p);
        }
    }
    diff(&sides, |k| {
        let (Some(v), Some(p)) = (K::tenant_store(t).get(&k.0, &k.1), copies.get(k)) else {
            return true;
        };
        match K::desired(tctx, &v, Some(p)) {
            Ok(d) => K::diff(&d, p).is_none(),
            // Unsyncable objects are reported by their own reconcile, not repaired here.
            Err(_) => true,
        }
    })
}

fn namespaces(
    ctx: &Context,
    t: &Tenant,
    tctx: &TenantCtx,
    owned: &[Arc<Namespace>],
) -> Vec<(Finding, Key)> {
    let mut sides: Sides<Key> = Sides::default();
    for v in t.caches.namespaces.list() {
        if v.metadata.deletion_timestamp.is_none() && !convert::ignored(&v.metadata) {
            sides.tenant.insert(
                key_of("", &v.name_any()),
                v.metadata.uid.clone().unwrap_or_default(),
            );
        }
    }
    for p in owned {
        let Some(ann) = p.metadata.annotations.as_ref() else {
            continue;
        };
        if ann.contains_key(crds::tenancy::ANNOTATION_VC_ROOT_NS) {
            continue;
        }
        if let Some(ns) = ann.get(crds::tenancy::ANNOTATION_NAMESPACE) {
            sides.super_.insert(
                key_of("", ns),
                recorded_uid(&p.metadata).map(str::to_string),
            );
        }
    }
    diff(&sides, |k| {
        let (Some(v), Ok(pname)) = (t.caches.namespaces.get("", &k.1), tctx.super_ns(&k.1)) else {
            return true;
        };
        let Some(p) = ctx.supers.namespaces.get("", &pname) else {
            return true;
        };
        match convert::namespace::desired(tctx, &v, Some(&p)) {
            Ok(d) => convert::namespace::diff(&d, &p).is_none(),
            Err(_) => true,
        }
    })
}

fn pods(
    ctx: &Context,
    t: &Tenant,
    tctx: &TenantCtx,
    supers: &BTreeSet<String>,
) -> Vec<(Finding, Key)> {
    let mut sides: Sides<Key> = Sides::default();
    for v in t.caches.pods.list() {
        if v.metadata.deletion_timestamp.is_none() && !convert::ignored(&v.metadata) {
            sides.tenant.insert(
                key_of(&v.namespace().unwrap_or_default(), &v.name_any()),
                v.metadata.uid.clone().unwrap_or_default(),
            );
        }
    }
    for p in in_namespaces(&ctx.supers.pods, supers) {
        if let Some(k) = super_key(&p.metadata, &t.key) {
            sides
                .super_
                .insert(k, recorded_uid(&p.metadata).map(str::to_string));
        }
    }
    // Pods that cannot be synced are reported by their reconcile, not re-queued every patrol;
    // pods waiting for quota are re-queued by the quota ledger when their turn comes.
    sides.tenant.retain(|k, _| {
        sides.super_.contains_key(k)
            || t.caches.pods.get(&k.0, &k.1).is_some_and(|v| {
                !ctx.quota
                    .is_waiting(&t.key, crate::quota::Kind::Pod, &k.0, &k.1)
                    && crate::convert::pod::validate(tctx, &v).is_ok()
            })
    });
    let mut memo = lock_memo(t);
    let findings = diff(&sides, |k| {
        let (Some(v), Ok(super_ns)) = (t.caches.pods.get(&k.0, &k.1), tctx.super_ns(&k.0)) else {
            return true;
        };
        let Some(p) = ctx.supers.pods.get(&super_ns, &k.1) else {
            return true;
        };
        let seen = versions(&v, &p);
        if memo.get(k) == Some(&seen) {
            return true;
        }
        let in_sync = pod_in_sync(tctx, &v, &p);
        if in_sync && !status_lags(&v, &p) {
            memo.insert(k.clone(), seen);
        }
        in_sync
    });
    memo.retain(|k, _| sides.tenant.contains_key(k));
    findings
}

/// The cheap form of the pod diff: metadata, images and activeDeadlineSeconds.
fn pod_in_sync(tctx: &TenantCtx, v: &Pod, p: &Pod) -> bool {
    let Ok(meta) = super_meta(tctx, &v.metadata, Some(&p.metadata)) else {
        return true;
    };
    if !convert::same_labels_annotations(&meta, &p.metadata) {
        return false;
    }
    let (Some(vs), Some(ps)) = (v.spec.as_ref(), p.spec.as_ref()) else {
        return true;
    };
    let images = |cs: &[k8s_openapi::api::core::v1::Container]| {
        cs.iter()
            .map(|c| (c.name.clone(), c.image.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    images(&vs.containers) == images(&ps.containers)
        && vs.active_deadline_seconds == ps.active_deadline_seconds
}
