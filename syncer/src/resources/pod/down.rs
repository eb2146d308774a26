//! Downward pod sync: create the super pod for a tenant pod (validated, admitted by the
//! tenant's quota), let its mutable fields follow, delete it with the tenant pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::Patch;
use kube::{Api, ResourceExt};

use super::quota::hold;
use super::write::{delete_super, force_delete_tenant, mark_unschedulable, ran_in_super};
use crate::context::Context;
use crate::convert::pod::{self as cpod, PodInputs, ServiceEnv};
use crate::convert::{self, ConvertError, TenantCtx, owned_by, recorded_uid, secret, service};
use crate::queue::WorkKey;
use crate::quota::admit::{Admission, admit_pod};
use crate::quota::track;
use crate::reconcile::{SyncError, SyncResult, Synced, lean, super_call};
use crate::resources::serviceaccount::token;
use crate::tenants::tenant::Tenant;

/// Level-based downward sync of one tenant pod.
pub async fn down(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let tctx = tenant.ctx();
    let super_ns = tctx.super_ns(&key.namespace).map_err(ConvertError::from)?;
    let v = tenant
        .caches
        .get::<Pod>()
        .get(&key.namespace, &key.name)
        .filter(|v| !convert::ignored(&v.metadata));
    let p = ctx
        .supers
        .get::<Pod>()
        .get(&super_ns, &key.name)
        .filter(|p| owned_by(&p.metadata, &tenant.key));
    let Some(v) = v else {
        track::forget(ctx, &key.tenant, key.resource, &key.namespace, &key.name);
        return match p {
            Some(p) => delete_super(ctx, &super_ns, &p, None).await,
            None => Ok(Synced::Unchanged),
        };
    };
    if v.metadata.deletion_timestamp.is_some() {
        track::forget(ctx, &key.tenant, key.resource, &key.namespace, &key.name);
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
        return create(ctx, tenant, key, &tctx, &super_ns, &v).await;
    };
    if recorded_uid(&p.metadata) != v.metadata.uid.as_deref() {
        delete_super(ctx, &super_ns, &p, Some(0)).await?;
        return Err(SyncError::Waiting(format!(
            "replacing the super pod of an earlier tenant pod {}/{}",
            key.namespace, key.name
        )));
    }
    update(ctx, &tctx, &super_ns, &v, &p).await
}

/// Creates the super pod of tenant pod `v`, once it is valid and the tenant's quota admits it.
async fn create(
    ctx: &Context,
    tenant: &Tenant,
    key: &WorkKey,
    tctx: &TenantCtx,
    super_ns: &str,
    v: &Pod,
) -> SyncResult {
    if ctx.supers.get::<Pod>().get(super_ns, &key.name).is_some() {
        return Err(SyncError::Conflict(format!(
            "super pod {super_ns}/{} exists and does not belong to this tenant",
            key.name
        )));
    }
    if ran_in_super(v) {
        // It ran in the super cluster and its super pod is gone: deleted or evicted there.
        return force_delete_tenant(ctx, tenant, v).await;
    }
    if let Err(e) = cpod::validate(tctx, v) {
        let reason = e.reason();
        mark_unschedulable(ctx, tenant, v, reason, &e.to_string()).await?;
        return Err(e.into());
    }
    // The tenant's quota admits it, or it waits in line (marked unschedulable).
    if let Admission::Held(message) = admit_pod(ctx, tctx, key, v)? {
        hold(ctx, tenant, key, v, &message).await?;
        return Ok(Synced::Unchanged);
    }
    let d = desired(ctx, tenant, tctx, v).await?;
    let created = super_call(lean::create(&ctx.client, super_ns, &d)).await;
    if let Err(e) = &created {
        let uid = v.metadata.uid.as_deref().unwrap_or_default();
        track::create_failed(ctx, &key.tenant, key.resource, uid, e);
    }
    created?;
    Ok(Synced::Created)
}

/// Lets the mutable fields of super pod `p` follow tenant pod `v`: metadata, images,
/// activeDeadlineSeconds, debug containers and readiness gates. The inputs that shaped env and
/// volumes at creation are fixed.
async fn update(ctx: &Context, tctx: &TenantCtx, super_ns: &str, v: &Pod, p: &Pod) -> SyncResult {
    let name = v.name_any();
    let mut result = Synced::Unchanged;
    let update = cpod::update_for(tctx, v, p)?;
    if !update.is_empty() {
        let uid = p.metadata.uid.clone().unwrap_or_default();
        let patch: Patch<serde_json::Value> = Patch::Json(
            serde_json::from_value(update.to_json_patch(&uid))
                .map_err(|e| SyncError::Waiting(format!("building pod patch: {e}")))?,
        );
        super_call(lean::patch::<Pod, _>(&ctx.client, super_ns, &name, &patch)).await?;
        result = Synced::Updated;
    }
    if let Some(added) = cpod::ephemeral_update(tctx, v, p)? {
        // `kubectl debug` on the tenant: the same containers go to the super pod's
        // ephemeralcontainers subresource (merged by name, as kubectl does).
        let body = serde_json::json!({
            "metadata": {"uid": p.metadata.uid},
            "spec": {"ephemeralContainers": added},
        });
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), super_ns);
        super_call(api.patch_subresource(
            "ephemeralcontainers",
            &name,
            &kube::api::PatchParams::default(),
            &Patch::Strategic(&body),
        ))
        .await?;
        result = Synced::Updated;
    }
    if let Some(conditions) = cpod::readiness_down(v, p) {
        let body = serde_json::json!({
            "metadata": {"uid": p.metadata.uid},
            "status": {"conditions": conditions},
        });
        super_call(lean::patch_status::<Pod, _>(
            &ctx.client,
            super_ns,
            &name,
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
        if let Some(s) = tenant.caches.get::<Secret>().get(&ns, name)
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
        .get::<Service>()
        .list_namespace(ns)
        .into_iter()
        .filter_map(|s| {
            let name = s.name_any();
            let p = ctx.supers.get::<Service>().get(&super_ns, &name)?;
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
        .get::<Service>()
        .get(TENANT_DNS_NAMESPACE, TENANT_DNS_SERVICE)?;
    let super_ns = tctx.super_ns(TENANT_DNS_NAMESPACE).ok()?;
    let p = ctx
        .supers
        .get::<Service>()
        .get(&super_ns, TENANT_DNS_SERVICE)?;
    service::super_cluster_ip(&p).map(str::to_string)
}
