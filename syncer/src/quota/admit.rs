//! Admission: a tenant pod, service or claim is checked against its tenant's ledger right
//! before its super copy is built and created; one that does not fit is held back (marked and
//! reported once) and waits in line.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Decision, Kind, REASON_EXCEEDED, Request, Woken, requeue, usage};
use crate::context::Context;
use crate::convert::{ConvertError, TenantCtx};
use crate::queue::{Resource as Res, WorkKey};
use crate::reconcile::{SyncError, Synced};
use crate::tenant::Tenant;

/// The line's order of a tenant object: its creation time in seconds.
fn created(meta: &ObjectMeta) -> i64 {
    meta.creation_timestamp
        .as_ref()
        .map_or(0, |t| t.0.as_second())
}

/// What a tenant pod will count once its super pod exists: its resources with the pod policy's
/// default requests filled in (the super cluster may add its own RuntimeClass overhead; the
/// charge from the super pod then corrects the estimate).
fn estimate(tctx: &TenantCtx, v: &Pod) -> Pod {
    let mut p = Pod {
        metadata: ObjectMeta::default(),
        spec: v.spec.clone(),
        status: None,
    };
    if let Some(spec) = p.spec.as_mut() {
        crate::convert::policy::apply_default_requests(&tctx.pod_policy, spec);
    }
    p
}

/// Admission of a tenant pod right before its super pod is built and created. `None`: go
/// ahead (its usage is reserved); `Some`: it is held back — marked unschedulable in the tenant,
/// with a Warning event — and waits in line until room frees up.
pub async fn admit_pod(
    ctx: &Context,
    tenant: &Tenant,
    tctx: &TenantCtx,
    key: &WorkKey,
    v: &Pod,
) -> Result<Option<Synced>, SyncError> {
    let desired = &estimate(tctx, v);
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
    // Both writes go to the tenant at once: a burst parks thousands of pods.
    let (marked, ()) = futures::join!(
        crate::reconcile::pod::mark_unschedulable(ctx, tenant, v, REASON_EXCEEDED, message),
        crate::recorder::warn_tenant_object(ctx, key, REASON_EXCEEDED, message),
    );
    marked
}

/// The ledger kind of a work item's resource (pods, services and claims are counted).
pub fn kind_of(res: Res) -> Option<Kind> {
    match res {
        Res::Pod => Some(Kind::Pod),
        Res::Service => Some(Kind::Service),
        Res::PersistentVolumeClaim => Some(Kind::Claim),
        _ => None,
    }
}

/// Whether the tenant object of API kind `kind` (`Service`, …) waits for quota.
pub fn waits(ctx: &Context, tenant_key: &str, kind: &str, ns: &str, name: &str) -> bool {
    let kind = match kind {
        "Pod" => Kind::Pod,
        "Service" => Kind::Service,
        "PersistentVolumeClaim" => Kind::Claim,
        _ => return false,
    };
    ctx.quota.is_waiting(tenant_key, kind, ns, name)
}

fn convert<T: serde::de::DeserializeOwned>(obj: &impl serde::Serialize) -> Result<T, SyncError> {
    serde_json::to_value(obj)
        .and_then(serde_json::from_value)
        .map_err(|e| ConvertError::Invalid(format!("reading the object for quota: {e}")).into())
}

/// Admission of a tenant Service or PersistentVolumeClaim right before its super copy
/// (`desired`) is created; other kinds pass. `None`: go ahead (usage reserved); `Some`: it
/// waits in line (or can never fit), with a Warning event when it starts waiting.
pub async fn admit_object<K: serde::Serialize>(
    ctx: &Context,
    key: &WorkKey,
    vmeta: &ObjectMeta,
    desired: &K,
) -> Result<Option<Synced>, SyncError> {
    let amounts = match key.resource {
        Res::Service => usage::service(&convert::<Service>(desired)?),
        Res::PersistentVolumeClaim => usage::claim(&convert::<PersistentVolumeClaim>(desired)?)
            .map_err(|e| ConvertError::Invalid(e.to_string()))?,
        _ => return Ok(None),
    };
    let Some(kind) = kind_of(key.resource) else {
        return Ok(None);
    };
    let was_waiting = ctx
        .quota
        .is_waiting(&key.tenant, kind, &key.namespace, &key.name);
    let req = Request {
        kind,
        uid: vmeta.uid.clone().unwrap_or_default(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        created: created(vmeta),
        amounts,
    };
    let (decision, woken) = ctx.quota.admit(&key.tenant, req);
    requeue(ctx, &key.tenant, woken);
    match decision {
        Decision::Admitted => Ok(None),
        Decision::Waiting(msg) | Decision::Refused(msg) => {
            if !was_waiting {
                crate::recorder::warn_tenant_object(ctx, key, REASON_EXCEEDED, &msg).await;
            }
            Ok(Some(Synced::Unchanged))
        }
    }
}

/// [`create_failed`] for a work item of a counted kind.
pub fn object_create_failed(ctx: &Context, key: &WorkKey, vmeta: &ObjectMeta, err: &SyncError) {
    if let Some(kind) = kind_of(key.resource) {
        let uid = vmeta.uid.as_deref().unwrap_or_default();
        create_failed(ctx, &key.tenant, kind, uid, err);
    }
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
