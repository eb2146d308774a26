//! Namespaces: tenant namespace `ns` ↔ super namespace `<cluster-key>-<ns>`. Deleting the
//! super namespace removes every copy in it. The super namespace watch also keeps the
//! namespace index (super namespace ↔ owning tenant) that routing and the loops use.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, ResourceExt};

use super::kind::{SyncFuture, SyncedKind};
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert::{
    self, Change as Write, ConvertError, namespace, origin_namespace, owned_by, recorded_uid,
};
use crate::patrol::compare::{Key, Scope, key_of, report};
use crate::patrol::diff::{Finding, Sides, diff};
use crate::queue::{Resource, WorkKey};
use crate::reconcile::{SyncError, SyncResult, Synced, is_not_found, super_call};
use crate::route::{self, Lookup, Target};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// `core/v1` Namespace.
pub const RESOURCE: Resource = Resource::cluster_scoped("namespaces");

/// The namespace entry of the resource table.
pub struct Namespaces;

impl SyncedKind for Namespaces {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, enabled: bool) {
        tenant.add::<Namespace>(RESOURCE, enabled);
        supers.add::<Namespace>(RESOURCE, enabled);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        watch::super_watch(ctx, watch::managed(), |ctx, c: Change<'_, Namespace>| {
            let ns = c.object();
            let name = ns.metadata.name.as_deref().unwrap_or_default();
            match c {
                Change::Applied(_) | Change::Listed(_) => {
                    ctx.tenants.namespaces.apply(name, &ns.metadata)
                }
                Change::Deleted(_) => ctx.tenants.namespaces.remove(name),
            }
            watch::deliver(ctx, c, route(&ns.metadata, &ctx.tenants), true, false);
        });
    }

    fn watch_tenant(&self, ctx: &Arc<Context>, t: &Arc<Tenant>) {
        watch::tenant_watch::<Namespace>(t, RESOURCE, &ctx.down, WatchSpec::default());
    }

    fn down<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(down(ctx, t, key))
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        report(ctx, t, RESOURCE, compare(ctx, t, scope));
    }

    fn policy_sensitive(&self) -> bool {
        true
    }

    fn involved(&self, t: &Tenant, key: &WorkKey) -> Option<ObjectReference> {
        let mut obj = t.caches.of(RESOURCE)?.object_ref("", &key.name)?;
        // Events about a namespace live in it (as the namespace controller records them).
        obj.namespace = Some(key.name.clone());
        Some(obj)
    }
}

/// The work item of a super namespace: its tenant namespace (cluster-scoped key); none for a
/// root namespace.
pub fn route(meta: &ObjectMeta, tenants: &impl Lookup) -> Option<WorkKey> {
    if route::is_root_namespace(meta) {
        return None;
    }
    let origin = route::origin(meta)?;
    let target = Target {
        cluster: origin.cluster,
        namespace: "",
        name: origin.namespace,
    };
    target.key(tenants, RESOURCE)
}

/// Level-based downward sync of one tenant namespace.
pub async fn down(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let tctx = tenant.ctx();
    let pname = tctx.super_ns(&key.name).map_err(ConvertError::from)?;
    let v = tenant
        .caches
        .get::<Namespace>()
        .get("", &key.name)
        .filter(|v| v.metadata.deletion_timestamp.is_none() && !convert::ignored(&v.metadata));
    let p = ctx.supers.get::<Namespace>().get("", &pname);
    let Some(v) = v else {
        let same_origin =
            |p: &Namespace| origin_namespace(&p.metadata).is_none_or(|o| o == key.name);
        return match p {
            Some(p) if owned_by(&p.metadata, &tenant.key) && same_origin(&p) => {
                delete(ctx, &p).await?;
                Ok(Synced::Deleted)
            }
            _ => Ok(Synced::Unchanged),
        };
    };
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let Some(p) = p else {
        let d = namespace::desired(&tctx, &v, None)?;
        super_call(api.create(&PostParams::default(), &d)).await?;
        return Ok(Synced::Created);
    };
    check_copy(tenant, &key.name, &pname, &p)?;
    if recorded_uid(&p.metadata) != v.metadata.uid.as_deref() {
        delete(ctx, &p).await?;
        return Err(SyncError::Waiting(format!(
            "replacing super namespace {pname} of an earlier tenant namespace"
        )));
    }
    let d = namespace::desired(&tctx, &v, Some(&p))?;
    match namespace::diff(&d, &p) {
        Write::None => Ok(Synced::Unchanged),
        Write::Update(u) | Write::Recreate(u) => {
            super_call(api.replace(&pname, &PostParams::default(), &u)).await?;
            Ok(Synced::Updated)
        }
    }
}

/// Refuses an existing super namespace `pname` that is not (or not yet) the copy of tenant
/// namespace `name`.
fn check_copy(tenant: &Tenant, name: &str, pname: &str, p: &Namespace) -> Result<(), SyncError> {
    if !owned_by(&p.metadata, &tenant.key) {
        return Err(SyncError::Conflict(format!(
            "super namespace {pname} exists and does not belong to this tenant"
        )));
    }
    if p.metadata.deletion_timestamp.is_some() {
        return Err(SyncError::Waiting(format!(
            "super namespace {pname} is still terminating"
        )));
    }
    match origin_namespace(&p.metadata) {
        Some(o) if o != name => Err(ConvertError::NameConflict(format!(
            "tenant namespace {name:?} maps to super namespace {pname}, which already holds \
             tenant namespace {o:?} (long names are shortened with a hash); rename the namespace"
        ))
        .into()),
        _ => Ok(()),
    }
}

/// Deletes a super namespace with a uid precondition; gone is fine.
pub async fn delete(ctx: &Context, p: &Namespace) -> Result<(), SyncError> {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: p.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match super_call(api.delete(&p.name_any(), &dp)).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes every super namespace synced for tenant `cluster_key` (not its root namespace).
pub async fn delete_all(ctx: &Context, cluster_key: &str) -> Result<usize, SyncError> {
    let store = ctx.supers.get::<Namespace>();
    let mut n = 0;
    for name in ctx.tenants.namespaces.of_tenant(cluster_key) {
        let Some(p) = store.get("", &name) else {
            continue;
        };
        if owned_by(&p.metadata, cluster_key)
            && !route::is_root_namespace(&p.metadata)
            && origin_namespace(&p.metadata).is_some()
            && p.metadata.deletion_timestamp.is_none()
        {
            delete(ctx, &p).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// The patrol check: tenant namespaces against the super namespaces the tenant owns.
fn compare(ctx: &Context, t: &Tenant, scope: &Scope) -> Vec<(Finding, Key)> {
    let mut sides: Sides<Key> = Sides::default();
    let tenant_store = t.caches.get::<Namespace>();
    for v in tenant_store.list() {
        if v.metadata.deletion_timestamp.is_none() && !convert::ignored(&v.metadata) {
            sides.tenant.insert(
                key_of("", &v.name_any()),
                v.metadata.uid.clone().unwrap_or_default(),
            );
        }
    }
    for p in &scope.owned {
        if route::is_root_namespace(&p.metadata) {
            continue;
        }
        if let Some(ns) = origin_namespace(&p.metadata) {
            sides.super_.insert(
                key_of("", ns),
                recorded_uid(&p.metadata).map(str::to_string),
            );
        }
    }
    let tctx = &scope.tctx;
    diff(&sides, |k| {
        let (Some(v), Ok(pname)) = (tenant_store.get("", &k.1), tctx.super_ns(&k.1)) else {
            return true;
        };
        let Some(p) = ctx.supers.get::<Namespace>().get("", &pname) else {
            return true;
        };
        match namespace::desired(tctx, &v, Some(&p)) {
            Ok(d) => namespace::diff(&d, &p).is_none(),
            Err(_) => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use crds::tenancy;

    use super::*;
    use crate::route::testutil::{Fake, synced_meta};

    #[test]
    fn super_namespaces_route_to_their_tenant_namespace_but_roots_do_not() {
        let tenants = Fake {
            served: vec!["t1"],
            ..Fake::default()
        };
        let meta = synced_meta("t1", "app", "t1-app");
        let key = route(&meta, &tenants).expect("routed");
        assert_eq!(key.to_string(), "t1/namespaces/app");
        let mut root = synced_meta("t1", "", "t1");
        root.annotations
            .get_or_insert_default()
            .insert(tenancy::ANNOTATION_VC_ROOT_NS.into(), "true".into());
        assert_eq!(route(&root, &tenants), None);
        assert_eq!(route(&synced_meta("gone", "app", "x"), &tenants), None);
    }
}
