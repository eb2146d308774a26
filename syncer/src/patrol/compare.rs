//! What the resource modules' patrol checks share: the scope of one tenant's patrol, the
//! comparison of a [`DownSync`] kind's tenant objects with their super copies, and queueing
//! what was found.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::diff::{Finding, Sides, diff};
use crate::cache::Store;
use crate::context::Context;
use crate::convert::{TenantCtx, owned_by, recorded_uid};
use crate::queue::{Resource as Res, WorkKey};
use crate::reconcile::down::{DownSync, wanted_tenant_object};
use crate::tenants::tenant::Tenant;

/// A tenant object's `(namespace, name)`.
pub type Key = (String, String);

/// What one patrol of one tenant looks at.
pub struct Scope {
    /// The tenant's settings at the start of the patrol.
    pub tctx: Arc<TenantCtx>,
    /// The super namespaces the tenant owns (root namespace included).
    pub owned: Vec<Arc<Namespace>>,
    /// The super namespaces that can hold its copies: those of its namespaces and every super
    /// namespace it owns (a tenant namespace may be gone while its copy lingers). Scanning
    /// these instead of every super object keeps a scan linear in the objects, not tenants ×
    /// objects.
    pub supers: BTreeSet<String>,
}

impl Scope {
    /// The scope of tenant `t` now, from the namespace index.
    pub fn of(ctx: &Context, t: &Tenant) -> Self {
        let store = ctx.supers.get::<Namespace>();
        let owned: Vec<Arc<Namespace>> = ctx
            .tenants
            .namespaces
            .of_tenant(&t.key)
            .iter()
            .filter_map(|n| store.get("", n))
            .collect();
        let tctx = t.ctx();
        let mut supers: BTreeSet<String> = t
            .caches
            .get::<Namespace>()
            .list()
            .iter()
            .filter_map(|v| tctx.super_ns(&v.name_any()).ok())
            .collect();
        supers.extend(owned.iter().map(|p| p.name_any()));
        Scope {
            tctx,
            owned,
            supers,
        }
    }

    /// Objects of `store` in the scope's super namespaces.
    pub fn in_namespaces<K>(&self, store: &Store<K>) -> Vec<Arc<K>>
    where
        K: Resource + Serialize + DeserializeOwned,
    {
        self.supers
            .iter()
            .flat_map(|ns| store.list_namespace(ns))
            .collect()
    }
}

/// `(namespace, name)` as an owned key.
pub fn key_of(ns: &str, name: &str) -> Key {
    (ns.to_string(), name.to_string())
}

/// The tenant key of an owned super object: tenant namespace from its annotations, the tenant
/// name (a renamed secret records it) or else the same name.
pub fn super_key(meta: &ObjectMeta, cluster: &str) -> Option<Key> {
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

/// Counts what was found and queues downward work for each finding.
pub fn report(ctx: &Context, t: &Tenant, res: Res, findings: Vec<(Finding, Key)>) {
    for (finding, (ns, name)) in findings {
        ctx.metrics
            .patrol_repairs
            .with_label_values(&[&*t.key, res.as_str(), finding.as_str()])
            .inc();
        ctx.down.add(WorkKey::new(&t.key, res, ns, name));
    }
}

/// Queues upward work for every super object of kind `K` the tenant owns in the scope, in the
/// resync lane: most of it finds nothing to copy, and live changes must not wait behind it.
pub fn queue_up<K>(ctx: &Context, t: &Tenant, scope: &Scope, res: Res)
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let store = ctx.supers.get::<K>();
    for ns in &scope.supers {
        for (ns, name) in store
            .map_meta_in(ns, |m| super_key(m, &t.key))
            .into_iter()
            .flatten()
        {
            ctx.up.add_resync(WorkKey::new(&t.key, res, ns, name));
        }
    }
}

/// The patrol of a [`DownSync`] kind: compares and reports.
pub fn patrol<K: DownSync>(ctx: &Context, t: &Tenant, scope: &Scope) {
    report(ctx, t, K::RESOURCE, compare::<K>(ctx, t, scope));
}

/// Compares a [`DownSync`] kind's wanted tenant objects with the super copies in the scope.
pub fn compare<K: DownSync>(ctx: &Context, t: &Tenant, scope: &Scope) -> Vec<(Finding, Key)> {
    let mut sides: Sides<Key> = Sides::default();
    let tenant_store = t.caches.get::<K>();
    for v in tenant_store.list() {
        let (ns, name) = (v.namespace().unwrap_or_default(), v.name_any());
        let key = WorkKey::new(&t.key, K::RESOURCE, ns.clone(), name.clone());
        // Objects waiting for quota are re-queued by the quota ledger when their turn comes.
        let waits = K::COUNTED && ctx.quota.is_waiting(&t.key, K::RESOURCE, &ns, &name);
        if wanted_tenant_object::<K>(t, &key).is_some() && !waits {
            sides
                .tenant
                .insert(key_of(&ns, &name), v.meta().uid.clone().unwrap_or_default());
        }
    }
    let mut copies: BTreeMap<Key, Arc<K>> = BTreeMap::new();
    for p in scope.in_namespaces(ctx.supers.get::<K>()) {
        if K::is_syncer_own(&p) {
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
        let (Some(v), Some(p)) = (tenant_store.get(&k.0, &k.1), copies.get(k)) else {
            return true;
        };
        match K::desired(&scope.tctx, &v, Some(p)) {
            Ok(d) => K::diff(&d, p).is_none(),
            // Unsyncable objects are reported by their own reconcile, not repaired here.
            Err(_) => true,
        }
    })
}
