//! Pods, both ways: create/update/delete the super pod for a tenant pod, and bind the tenant pod
//! to its virtual node, copy status up and propagate super-side deletion.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::{DeleteParams, Patch, Preconditions};
use kube::{Api, ResourceExt};

use super::{
    SyncError, SyncResult, Synced, is_conflict, is_not_found, lean, super_call, tenant_call, token,
};
use crate::context::Context;
use crate::convert::pod::{self as cpod, PodInputs, ServiceEnv};
use crate::convert::{self, ConvertError, TenantCtx, owned_by, recorded_uid, secret, service};
use crate::queue::WorkKey;
use crate::quota::Kind;
use crate::tenant::Tenant;

/// Level-based downward sync of one tenant pod.
pub async fn down(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let tctx = tenant.ctx();
    let super_ns = tctx.super_ns(&key.namespace).map_err(ConvertError::from)?;
    let v = tenant
        .caches
        .pods
        .get(&key.namespace, &key.name)
        .filter(|v| !convert::ignored(&v.metadata));
    let p = ctx
        .supers
        .pods
        .get(&super_ns, &key.name)
        .filter(|p| owned_by(&p.metadata, &tenant.key));
    let Some(v) = v else {
        crate::quota::forget(ctx, &tenant.key, Kind::Pod, &key.namespace, &key.name);
        return match p {
            Some(p) => delete_super(ctx, &super_ns, &p, None).await,
            None => Ok(Synced::Unchanged),
        };
    };
    if v.metadata.deletion_timestamp.is_some() {
        crate::quota::forget(ctx, &tenant.key, Kind::Pod, &key.namespace, &key.name);
        return match p {
            Some(p) if p.metadata.deletion_timestamp.is_none() => {
                let grace = v.metadata.deletion_grace_period_seconds;
                delete_super(ctx, &super_ns, &p, grace).await
            }
            Some(_) => Ok(Synced::Unchanged),
            None => force_delete_tenant(ctx, tenant, &v).await,
        };
    }
    let Some(p) = p else {
        if ctx.supers.pods.get(&super_ns, &key.name).is_some() {
            return Err(SyncError::Conflict(format!(
                "super pod {super_ns}/{} exists and does not belong to this tenant",
                key.name
            )));
        }
        let bound = v
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        if bound && cpod::is_bound_by_syncer(&v) {
            // It ran in the super cluster and its super pod is gone: deleted or evicted there.
            return force_delete_tenant(ctx, tenant, &v).await;
        }
        if let Err(e) = cpod::validate(&tctx, &v) {
            let reason = e.reason();
            mark_unschedulable(ctx, tenant, &v, reason, &e.to_string()).await?;
            return Err(e.into());
        }
        // The tenant's quota admits it, or it waits in line (marked unschedulable).
        if let Some(held) = crate::quota::admit_pod(ctx, tenant, &tctx, key, &v).await? {
            return Ok(held);
        }
        let d = desired(ctx, tenant, &tctx, &v).await?;
        let created = super_call(lean::create(&ctx.client, &super_ns, &d)).await;
        if let Err(e) = &created {
            let uid = v.metadata.uid.as_deref().unwrap_or_default();
            crate::quota::create_failed(ctx, &tenant.key, Kind::Pod, uid, e);
        }
        created?;
        return Ok(Synced::Created);
    };
    if recorded_uid(&p.metadata) != v.metadata.uid.as_deref() {
        delete_super(ctx, &super_ns, &p, Some(0)).await?;
        return Err(SyncError::Waiting(format!(
            "replacing the super pod of an earlier tenant pod {}/{}",
            key.namespace, key.name
        )));
    }
    let mut result = Synced::Unchanged;
    // Only mutable fields can follow; the inputs that shaped env/volumes at creation are fixed.
    let update = cpod::update_for(&tctx, &v, &p)?;
    if !update.is_empty() {
        let uid = p.metadata.uid.clone().unwrap_or_default();
        let patch: Patch<serde_json::Value> = Patch::Json(
            serde_json::from_value(update.to_json_patch(&uid))
                .map_err(|e| SyncError::Waiting(format!("building pod patch: {e}")))?,
        );
        super_call(lean::patch::<Pod, _>(
            &ctx.client,
            &super_ns,
            &key.name,
            &patch,
        ))
        .await?;
        result = Synced::Updated;
    }
    if let Some(added) = cpod::ephemeral_update(&tctx, &v, &p)? {
        // `kubectl debug` on the tenant: the same containers go to the super pod's
        // ephemeralcontainers subresource (merged by name, as kubectl does).
        let body = serde_json::json!({
            "metadata": {"uid": p.metadata.uid},
            "spec": {"ephemeralContainers": added},
        });
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &super_ns);
        super_call(api.patch_subresource(
            "ephemeralcontainers",
            &key.name,
            &kube::api::PatchParams::default(),
            &Patch::Strategic(&body),
        ))
        .await?;
        result = Synced::Updated;
    }
    if let Some(conditions) = cpod::readiness_down(&v, &p) {
        let body = serde_json::json!({
            "metadata": {"uid": p.metadata.uid},
            "status": {"conditions": conditions},
        });
        super_call(lean::patch_status::<Pod, _>(
            &ctx.client,
            &super_ns,
            &key.name,
            &Patch::Merge(&body),
        ))
        .await?;
        result = Synced::Updated;
    }
    Ok(result)
}

async fn desired(
    ctx: &Context,
    tenant: &Tenant,
    tctx: &TenantCtx,
    v: &Pod,
) -> Result<Pod, SyncError> {
    let ns = v.namespace().unwrap_or_default();
    let services = service_envs(ctx, tenant, tctx, &ns);
    let dns_ip = dns_ip(ctx, tenant, tctx);
    let api = tenant.api_endpoint();
    let mut legacy = BTreeMap::new();
    for name in cpod::secret_volume_names(v) {
        if let Some(s) = tenant.caches.secrets.get(&ns, name)
            && secret::is_sa_token(&s)
        {
            legacy.insert(name.to_string(), secret::super_name(&s));
        }
    }
    let token_secret = match cpod::token_volume(v) {
        Some(_) => Some(token::ensure(ctx, tenant, &ns, cpod::service_account(v)).await?),
        None => None,
    };
    let inputs = PodInputs {
        services: &services,
        apiserver: api.as_ref(),
        dns_ip: dns_ip.as_deref(),
        token_secret: token_secret.as_deref(),
        legacy_token_secrets: &legacy,
    };
    Ok(cpod::desired(tctx, v, inputs, None)?)
}

/// The tenant services of a namespace with the cluster IPs of their super copies.
fn service_envs(ctx: &Context, tenant: &Tenant, tctx: &TenantCtx, ns: &str) -> Vec<ServiceEnv> {
    let Ok(super_ns) = tctx.super_ns(ns) else {
        return Vec::new();
    };
    tenant
        .caches
        .services
        .list_namespace(ns)
        .into_iter()
        .filter_map(|s| {
            let name = s.name_any();
            let p = ctx.supers.services.get(&super_ns, &name)?;
            let ip = service::super_cluster_ip(&p)?.to_string();
            Some(ServiceEnv {
                name,
                cluster_ip: ip,
                ports: s
                    .spec
                    .as_ref()
                    .and_then(|s| s.ports.clone())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The super cluster IP of the tenant's DNS service, when it is synced.
fn dns_ip(ctx: &Context, tenant: &Tenant, tctx: &TenantCtx) -> Option<String> {
    use crds::tenancy::{TENANT_DNS_NAMESPACE, TENANT_DNS_SERVICE};
    tenant
        .caches
        .services
        .get(TENANT_DNS_NAMESPACE, TENANT_DNS_SERVICE)?;
    let super_ns = tctx.super_ns(TENANT_DNS_NAMESPACE).ok()?;
    let p = ctx.supers.services.get(&super_ns, TENANT_DNS_SERVICE)?;
    service::super_cluster_ip(&p).map(str::to_string)
}

async fn delete_super(ctx: &Context, super_ns: &str, p: &Pod, grace: Option<i64>) -> SyncResult {
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
async fn force_delete_tenant(ctx: &Context, tenant: &Tenant, v: &Pod) -> SyncResult {
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

/// Upward sync of one pod: binding to its virtual node, status, super-side deletion.
pub async fn up(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let tctx = tenant.ctx();
    let super_ns = tctx.super_ns(&key.namespace).map_err(ConvertError::from)?;
    let v = tenant.caches.pods.get(&key.namespace, &key.name);
    let p = ctx
        .supers
        .pods
        .get(&super_ns, &key.name)
        .filter(|p| owned_by(&p.metadata, &tenant.key));
    let Some(v) = v else {
        if p.is_some() {
            ctx.down.add(key.clone());
        }
        return Ok(Synced::Unchanged);
    };
    let Some(p) = p else {
        let bound = v
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        if v.metadata.deletion_timestamp.is_some() || (bound && cpod::is_bound_by_syncer(&v)) {
            return force_delete_tenant(ctx, tenant, &v).await;
        }
        ctx.down.add(key.clone());
        return Ok(Synced::Unchanged);
    };
    if recorded_uid(&p.metadata) != v.metadata.uid.as_deref() {
        ctx.down.add(key.clone());
        return Ok(Synced::Unchanged);
    }
    let mut result = Synced::Unchanged;
    let pnode = p
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    let vnode = v
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    if let (Some(node), None) = (&pnode, &vnode) {
        crate::vnode::ensure(ctx, tenant, node).await?;
        let binding = cpod::binding(&v, node);
        let bound = tenant_call(
            ctx,
            lean::create_subresource::<Pod, _>(
                &tenant.client,
                &key.namespace,
                "binding",
                &key.name,
                &binding,
            ),
        )
        .await;
        match bound {
            Ok(_) => result = Synced::Updated,
            // Already bound (a concurrent reconcile won): the status update below still applies.
            Err(e) if is_conflict(&e) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(status) = cpod::status_up(&v, &p) {
        patch_status(ctx, tenant, &v, &status).await?;
        result = Synced::Updated;
    }
    Ok(result)
}

async fn patch_status(
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
