//! The pod patrol: tenant pods against their super pods (cheaply: metadata, images, deadline),
//! and tenant pods whose status lags behind the super pod.

use std::collections::{BTreeMap, HashMap};
use std::sync::MutexGuard;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::RESOURCE;
use crate::context::Context;
use crate::convert::pod as cpod;
use crate::convert::{self, TenantCtx, recorded_uid, super_meta};
use crate::patrol::compare::{Key, Scope, key_of, report, super_key};
use crate::patrol::diff::{Finding, Sides, diff};
use crate::queue::WorkKey;
use crate::tenants::tenant::Tenant;

/// The pod patrol of one tenant.
pub fn patrol(ctx: &Context, t: &Tenant, scope: &Scope) {
    report(ctx, t, RESOURCE, compare(ctx, t, scope));
    status_drift(ctx, t, &scope.tctx);
}

/// The (tenant, super) resourceVersions of a pod pair.
fn versions(v: &ObjectMeta, p: &ObjectMeta) -> (String, String) {
    let rv = |m: &ObjectMeta| m.resource_version.clone().unwrap_or_default();
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
/// Pairs remembered in sync are skipped on their metadata alone; only the others are decoded.
fn status_drift(ctx: &Context, t: &Tenant, tctx: &TenantCtx) {
    let memo = lock_memo(t);
    let (tenant_pods, super_pods) = (t.caches.get::<Pod>(), ctx.supers.get::<Pod>());
    for v in tenant_pods.briefs() {
        let (ns, name) = (
            v.meta.namespace.clone().unwrap_or_default(),
            name_of(&v.meta),
        );
        let Ok(super_ns) = tctx.super_ns(&ns) else {
            continue;
        };
        let Some(p) = super_pods.brief(&super_ns, &name) else {
            continue;
        };
        if recorded_uid(&p.meta) != v.meta.uid.as_deref() {
            continue;
        }
        let key = key_of(&ns, &name);
        if memo.get(&key) == Some(&versions(&v.meta, &p.meta)) {
            continue;
        }
        let (Some(vpod), Some(ppod)) = (
            tenant_pods.get(&ns, &name),
            super_pods.get(&super_ns, &name),
        ) else {
            continue;
        };
        if status_lags(&vpod, &ppod) {
            ctx.metrics
                .patrol_repairs
                .with_label_values(&[&*t.key, "pods", "status_lag"])
                .inc();
            ctx.up.add(WorkKey::new(&t.key, RESOURCE, ns, name));
        }
    }
}

fn name_of(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn lock_memo(t: &Tenant) -> MutexGuard<'_, HashMap<Key, (String, String)>> {
    // Entries are whole values: a poisoned map is still consistent.
    t.patrol_pods.lock().unwrap_or_else(|e| e.into_inner())
}

/// Tenant pods against the super pods in the scope; a pair found fully in sync is remembered
/// by resourceVersions and not compared again until one side changes.
fn compare(ctx: &Context, t: &Tenant, scope: &Scope) -> Vec<(Finding, Key)> {
    let tctx = &scope.tctx;
    let tenant_pods = t.caches.get::<Pod>();
    let super_pods = ctx.supers.get::<Pod>();
    let mut sides: Sides<Key> = Sides::default();
    for v in tenant_pods.briefs() {
        if v.meta.deletion_timestamp.is_none() && !convert::ignored(&v.meta) {
            sides.tenant.insert(
                key_of(
                    v.meta.namespace.as_deref().unwrap_or_default(),
                    &name_of(&v.meta),
                ),
                v.meta.uid.clone().unwrap_or_default(),
            );
        }
    }
    for ns in &scope.supers {
        let owned = super_pods.map_meta_in(ns, |m| {
            super_key(m, &t.key).map(|k| (k, recorded_uid(m).map(str::to_string)))
        });
        sides.super_.extend(owned.into_iter().flatten());
    }
    // Pods that cannot be synced are reported by their reconcile, not re-queued every patrol;
    // pods waiting for quota are re-queued by the quota ledger when their turn comes.
    sides.tenant.retain(|k, _| {
        sides.super_.contains_key(k)
            || tenant_pods.get(&k.0, &k.1).is_some_and(|v| {
                !ctx.quota.is_waiting(&t.key, RESOURCE, &k.0, &k.1)
                    && cpod::validate(tctx, &v).is_ok()
            })
    });
    let mut memo = lock_memo(t);
    let findings = diff(&sides, |k| {
        let (Some(vb), Ok(super_ns)) = (tenant_pods.brief(&k.0, &k.1), tctx.super_ns(&k.0)) else {
            return true;
        };
        let Some(pb) = super_pods.brief(&super_ns, &k.1) else {
            return true;
        };
        let seen = versions(&vb.meta, &pb.meta);
        if memo.get(k) == Some(&seen) {
            return true;
        }
        let (Some(v), Some(p)) = (tenant_pods.get(&k.0, &k.1), super_pods.get(&super_ns, &k.1))
        else {
            return true;
        };
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
