//! The generic downward reconciler of namespaced kinds copied more or less as they are
//! (services, secrets, configmaps, service accounts, endpoints, claims, ingresses): each kind
//! implements [`DownSync`] in its resource module.

use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Resource, ResourceExt};

use super::{SyncError, SyncResult, Synced, is_conflict, is_not_found, super_call};
use crate::cache::Watched;
use crate::context::Context;
use crate::convert::{self, Change, ConvertError, TenantCtx, owned_by, recorded_uid};
use crate::queue::{Resource as Res, WorkKey};
use crate::quota::Amounts;
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;

/// A namespaced kind synced downward by the generic reconciler.
pub trait DownSync: Watched + Resource<Scope = NamespaceResourceScope> {
    /// The synced resource.
    const RESOURCE: Res;
    /// Whether the tenant's quota counts it: [`DownSync::usage`] is admitted before a create.
    const COUNTED: bool = false;
    /// The desired super copy.
    fn desired(ctx: &TenantCtx, v: &Self, existing: Option<&Self>) -> Result<Self, ConvertError>;
    /// What to write to an existing copy.
    fn diff(desired: &Self, existing: &Self) -> Change<Self>;
    /// Name of the super copy.
    fn super_name(v: &Self) -> String {
        v.name_any()
    }
    /// Super copies of tenant object `name` (used when the tenant object is gone).
    fn super_copies(s: &Stores, super_ns: &str, name: &str) -> Vec<Arc<Self>> {
        s.get::<Self>().get(super_ns, name).into_iter().collect()
    }
    /// Whether this tenant object is synced at all.
    fn wanted(_t: &Tenant, _v: &Self) -> bool {
        true
    }
    /// Whether a super object of this kind is one the syncer keeps for itself (e.g. pod token
    /// secrets): never a tenant object's copy, never replaced or deleted for one.
    fn is_syncer_own(_p: &Self) -> bool {
        false
    }
    /// Whether an unmanaged super object of the same name serves as the copy (objects every
    /// namespace gets from the super cluster's own controllers).
    fn adopt_existing(_v: &Self) -> bool {
        false
    }
    /// Rejects a tenant object for reasons only the caches know (e.g. endpoint addresses that
    /// are not the tenant's own pods).
    fn admit(_ctx: &Context, _t: &Tenant, _v: &Self) -> Result<(), ConvertError> {
        Ok(())
    }
    /// What the super copy counts against the tenant's quota (only asked when
    /// [`DownSync::COUNTED`]).
    fn usage(_desired: &Self) -> Result<Amounts, ConvertError> {
        Ok(Amounts::new())
    }
}

/// The tenant object of `key` when it should have a super copy.
pub fn wanted_tenant_object<K: DownSync>(tenant: &Tenant, key: &WorkKey) -> Option<Arc<K>> {
    tenant
        .caches
        .get::<K>()
        .get(&key.namespace, &key.name)
        .filter(|v| v.meta().deletion_timestamp.is_none())
        .filter(|v| !convert::ignored(v.meta()))
        .filter(|v| K::wanted(tenant, v))
}

/// Level-based downward sync of one namespaced object.
pub async fn sync<K: DownSync>(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let tctx = tenant.ctx();
    let super_ns = tctx.super_ns(&key.namespace).map_err(ConvertError::from)?;
    let Some(v) = wanted_tenant_object::<K>(tenant, key) else {
        tenant.set_adopted(key.resource, &key.namespace, &key.name, false);
        let mut deleted = Synced::Unchanged;
        for p in K::super_copies(&ctx.supers, &super_ns, &key.name) {
            if owned_by(p.meta(), &tenant.key) {
                delete_super::<K>(ctx, &super_ns, &p).await?;
                deleted = Synced::Deleted;
            }
        }
        return Ok(deleted);
    };
    if let Err(refused) = K::admit(ctx, tenant, &v) {
        remove_refused_copy::<K>(ctx, tenant, &super_ns, &v).await?;
        return Err(refused.into());
    }
    let pname = K::super_name(&v);
    let Some(p) = ctx.supers.get::<K>().get(&super_ns, &pname) else {
        if tenant.is_adopted(key.resource, &key.namespace, &key.name) {
            return Ok(Synced::Unchanged);
        }
        return create::<K>(ctx, tenant, key, &super_ns, &v).await;
    };
    if !owned_by(p.meta(), &tenant.key) {
        return Err(SyncError::Conflict(format!(
            "super {} {super_ns}/{pname} exists and does not belong to this tenant",
            K::kind(&())
        )));
    }
    if recorded_uid(p.meta()) != v.meta().uid.as_deref() && K::is_syncer_own(&p) {
        return Err(ConvertError::NameConflict(format!(
            "the super {} {super_ns}/{pname} is one the syncer keeps for itself; rename the \
             tenant object",
            K::kind(&())
        ))
        .into());
    }
    if recorded_uid(p.meta()) != v.meta().uid.as_deref() {
        delete_super::<K>(ctx, &super_ns, &p).await?;
        return Err(SyncError::Waiting(format!(
            "replacing the super copy of an earlier {} {}/{}",
            K::kind(&()),
            key.namespace,
            key.name
        )));
    }
    let d = K::desired(&tctx, &v, Some(&p))?;
    match K::diff(&d, &p) {
        Change::None => Ok(Synced::Unchanged),
        Change::Update(u) => {
            let api: Api<K> = Api::namespaced(ctx.client.clone(), &super_ns);
            super_call(api.replace(&pname, &PostParams::default(), &u)).await?;
            Ok(Synced::Updated)
        }
        Change::Recreate(_) => {
            delete_super::<K>(ctx, &super_ns, &p).await?;
            Err(SyncError::Waiting(format!(
                "recreating {} {super_ns}/{pname} (immutable fields changed)",
                K::kind(&())
            )))
        }
    }
}

/// Creates the first super copy of `v` (after the tenant's quota admits it, for counted kinds).
async fn create<K: DownSync>(
    ctx: &Context,
    tenant: &Tenant,
    key: &WorkKey,
    super_ns: &str,
    v: &K,
) -> SyncResult {
    let d = K::desired(&tenant.ctx(), v, None)?;
    if K::COUNTED {
        let amounts = K::usage(&d)?;
        if let Some(held) = crate::quota::admit::admit_object(ctx, key, v, amounts).await? {
            return Ok(held);
        }
    }
    match create_super(ctx, super_ns, &d).await {
        Ok(()) => Ok(Synced::Created),
        Err(e) if is_conflict(&e) && K::adopt_existing(v) => {
            tenant.set_adopted(key.resource, &key.namespace, &key.name, true);
            Ok(Synced::Unchanged)
        }
        Err(e) => {
            if K::COUNTED {
                let uid = v.meta().uid.as_deref().unwrap_or_default();
                crate::quota::track::create_failed(ctx, &key.tenant, key.resource, uid, &e);
            }
            Err(e)
        }
    }
}

/// Deletes the super copy of a tenant object that [`DownSync::admit`] now refuses (e.g.
/// endpoints whose addresses became foreign): a copy made while the object was admissible must
/// not outlive the refusal. Only this object's own copy goes (its uid recorded, never one the
/// syncer keeps for itself), with a uid precondition.
async fn remove_refused_copy<K: DownSync>(
    ctx: &Context,
    tenant: &Tenant,
    super_ns: &str,
    v: &K,
) -> Result<(), SyncError> {
    let Some(p) = ctx.supers.get::<K>().get(super_ns, &K::super_name(v)) else {
        return Ok(());
    };
    let own_copy = owned_by(p.meta(), &tenant.key)
        && recorded_uid(p.meta()) == v.meta().uid.as_deref()
        && !K::is_syncer_own(&p);
    if own_copy {
        delete_super::<K>(ctx, super_ns, &p).await?;
    }
    Ok(())
}

/// Creates a super object.
pub async fn create_super<K: DownSync>(
    ctx: &Context,
    super_ns: &str,
    obj: &K,
) -> Result<(), SyncError> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), super_ns);
    super_call(api.create(&PostParams::default(), obj)).await?;
    Ok(())
}

/// Deletes a super object if it is still the one cached (uid precondition); gone is fine.
pub async fn delete_super<K: DownSync>(
    ctx: &Context,
    super_ns: &str,
    p: &K,
) -> Result<(), SyncError> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), super_ns);
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: p.meta().uid.clone(),
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
