//! Admission: a tenant pod, service or claim is checked against its tenant's ledger right
//! before its super copy is built and created; one that does not fit is held back and waits in
//! line.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

use super::track::requeue;
use super::{Amounts, Decision, REASON_EXCEEDED, Request, Woken, usage};
use crate::context::Context;
use crate::convert::{ConvertError, TenantCtx};
use crate::queue::WorkKey;
use crate::reconcile::{SyncError, Synced};

/// The ledger's answer for a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead: its usage is reserved.
    Admitted,
    /// Hold it back (it waits in line, or can never fit); the message says why.
    Held(String),
}

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

/// Admission of a tenant pod (work item `key`) right before its super pod is built and
/// created. A held pod is for the caller to mark; it waits in line until room frees up.
pub fn admit_pod(
    ctx: &Context,
    tctx: &TenantCtx,
    key: &WorkKey,
    v: &Pod,
) -> Result<Admission, SyncError> {
    let desired = &estimate(tctx, v);
    let uid = v.metadata.uid.clone().unwrap_or_default();
    if let Some(hard) = ctx.quota.hard(&key.tenant) {
        let missing = usage::missing_constraints(desired, &hard);
        if !missing.is_empty() {
            let me = Woken {
                kind: key.resource,
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            };
            let woken = ctx.quota.refuse(&key.tenant, me, &uid);
            requeue(ctx, &key.tenant, woken);
            return Ok(Admission::Held(format!(
                "failed quota: {}: must specify {}",
                quota_name(ctx, &key.tenant),
                missing.join(",")
            )));
        }
    }
    let amounts = usage::pod(desired).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    Ok(decide(ctx, key, &v.metadata, amounts))
}

fn quota_name(ctx: &Context, key: &str) -> String {
    ctx.quota
        .lock()
        .get(key)
        .and_then(|e| e.vc.clone())
        .map(|(ns, name)| format!("spec.quota.hard of VirtualCluster {ns}/{name}"))
        .unwrap_or_else(|| "the tenant quota".into())
}

/// Asks the ledger about the object of `key` using `amounts`.
fn decide(ctx: &Context, key: &WorkKey, vmeta: &ObjectMeta, amounts: Amounts) -> Admission {
    let req = Request {
        kind: key.resource,
        uid: vmeta.uid.clone().unwrap_or_default(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        created: created(vmeta),
        amounts,
    };
    let (decision, woken) = ctx.quota.admit(&key.tenant, req);
    requeue(ctx, &key.tenant, woken);
    match decision {
        Decision::Admitted => Admission::Admitted,
        Decision::Waiting(msg) | Decision::Refused(msg) => Admission::Held(msg),
    }
}

/// Admission of a counted tenant object (a Service or PersistentVolumeClaim) whose super copy
/// would use `amounts`. `None`: go ahead (usage reserved); `Some`: it waits in line (or can
/// never fit), with a Warning event when it starts waiting.
pub async fn admit_object<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    key: &WorkKey,
    v: &K,
    amounts: Amounts,
) -> Result<Option<Synced>, SyncError> {
    let was_waiting = ctx
        .quota
        .is_waiting(&key.tenant, key.resource, &key.namespace, &key.name);
    match decide(ctx, key, v.meta(), amounts) {
        Admission::Admitted => Ok(None),
        Admission::Held(msg) => {
            if !was_waiting {
                let obj = crate::recorder::object_ref(v);
                crate::recorder::warn_tenant(ctx, &key.tenant, obj, REASON_EXCEEDED, &msg).await;
            }
            Ok(Some(Synced::Unchanged))
        }
    }
}
