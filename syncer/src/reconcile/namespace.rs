//! Namespaces: tenant namespace `ns` ↔ super namespace `<cluster-key>-<ns>`. Deleting the
//! super namespace removes every copy in it.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, ResourceExt};

use super::{SyncError, SyncResult, Synced, is_not_found, super_call};
use crate::context::Context;
use crate::convert::{
    self, Change, ConvertError, namespace, origin_namespace, owned_by, recorded_uid,
};
use crate::queue::WorkKey;
use crate::tenant::Tenant;

/// Level-based downward sync of one tenant namespace.
pub async fn down(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let tctx = tenant.ctx();
    let pname = tctx.super_ns(&key.name).map_err(ConvertError::from)?;
    let v = tenant
        .caches
        .namespaces
        .get("", &key.name)
        .filter(|v| v.metadata.deletion_timestamp.is_none() && !convert::ignored(&v.metadata));
    let p = ctx.supers.namespaces.get("", &pname);
    let api: Api<Namespace> = Api::all(ctx.client.clone());
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
    let Some(p) = p else {
        let d = namespace::desired(&tctx, &v, None)?;
        super_call(api.create(&PostParams::default(), &d)).await?;
        return Ok(Synced::Created);
    };
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
    let origin_ns = origin_namespace(&p.metadata);
    if origin_ns.is_some_and(|o| o != key.name) {
        return Err(ConvertError::NameConflict(format!(
            "tenant namespace {:?} maps to super namespace {pname}, which already holds tenant \
             namespace {:?} (long names are shortened with a hash); rename the namespace",
            key.name,
            origin_ns.unwrap_or_default()
        ))
        .into());
    }
    if recorded_uid(&p.metadata) != v.metadata.uid.as_deref() {
        delete(ctx, &p).await?;
        return Err(SyncError::Waiting(format!(
            "replacing super namespace {pname} of an earlier tenant namespace"
        )));
    }
    let d = namespace::desired(&tctx, &v, Some(&p))?;
    match namespace::diff(&d, &p) {
        Change::None => Ok(Synced::Unchanged),
        Change::Update(u) | Change::Recreate(u) => {
            super_call(api.replace(&pname, &PostParams::default(), &u)).await?;
            Ok(Synced::Updated)
        }
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
    let mut n = 0;
    for p in ctx.supers.namespaces.list() {
        let ann = p.metadata.annotations.clone().unwrap_or_default();
        if owned_by(&p.metadata, cluster_key)
            && !ann.contains_key(crds::tenancy::ANNOTATION_VC_ROOT_NS)
            && ann.contains_key(crds::tenancy::ANNOTATION_NAMESPACE)
            && p.metadata.deletion_timestamp.is_none()
        {
            delete(ctx, &p).await?;
            n += 1;
        }
    }
    Ok(n)
}
