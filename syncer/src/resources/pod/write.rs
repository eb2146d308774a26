//! The pod writes both directions share: deleting the super pod, removing the tenant pod once
//! its super pod is gone, and the tenant pod's status.

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::{DeleteParams, Patch, Preconditions};
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::convert::pod as cpod;
use crate::reconcile::{
    SyncError, SyncResult, Synced, is_conflict, is_not_found, lean, super_call, tenant_call,
};
use crate::tenants::tenant::Tenant;

/// Deletes a super pod if it is still the one cached (uid precondition); gone is fine.
pub async fn delete_super(
    ctx: &Context,
    super_ns: &str,
    p: &Pod,
    grace: Option<i64>,
) -> SyncResult {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), super_ns);
    let dp = DeleteParams {
        grace_period_seconds: grace.and_then(|g| u32::try_from(g).ok()),
        preconditions: Some(Preconditions {
            uid: p.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match super_call(api.delete(&p.name_any(), &dp)).await {
        Ok(_) => Ok(Synced::Deleted),
        Err(e) if is_not_found(&e) => Ok(Synced::Unchanged),
        Err(e) => Err(e),
    }
}

/// Removes a tenant pod whose super pod is gone, as a kubelet does once containers stopped.
pub async fn force_delete_tenant(ctx: &Context, tenant: &Tenant, v: &Pod) -> SyncResult {
    let api: Api<Pod> = Api::namespaced(tenant.client.clone(), &v.namespace().unwrap_or_default());
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: v.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match tenant_call(ctx, api.delete(&v.name_any(), &dp)).await {
        Ok(_) => Ok(Synced::Deleted),
        Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(Synced::Unchanged),
        Err(e) => Err(e),
    }
}

/// Writes the status of tenant pod `v` (uid precondition).
pub async fn patch_status(
    ctx: &Context,
    tenant: &Tenant,
    v: &Pod,
    status: &PodStatus,
) -> Result<(), SyncError> {
    let body = serde_json::json!({
        "metadata": {"uid": v.metadata.uid},
        "status": status,
    });
    tenant_call(
        ctx,
        lean::patch_status::<Pod, _>(
            &tenant.client,
            &v.namespace().unwrap_or_default(),
            &v.name_any(),
            &Patch::Merge(&body),
        ),
    )
    .await?;
    Ok(())
}

/// Marks a tenant pod that is not created in the super cluster the way the scheduler marks an
/// unschedulable pod: `PodScheduled=False` with `reason` and `message`. Writes only when the
/// condition differs.
pub async fn mark_unschedulable(
    ctx: &Context,
    tenant: &Tenant,
    v: &Pod,
    reason: &str,
    message: &str,
) -> Result<(), SyncError> {
    let Some(status) = cpod::unschedulable_status(v, reason, message, jiff::Timestamp::now())
    else {
        return Ok(());
    };
    patch_status(ctx, tenant, v, &status).await
}

/// Whether a tenant pod is bound to a node the syncer bound it to: it ran in the super
/// cluster, so a missing super pod means it was deleted or evicted there.
pub fn ran_in_super(v: &Pod) -> bool {
    let bound = v
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    bound && cpod::is_bound_by_syncer(v)
}
