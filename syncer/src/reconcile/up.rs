//! Upward sync besides pods and nodes: service cluster IPs and load balancers, claim status and
//! bound volumes, ingress status, events, and public super objects broadcast to tenants.

use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{SyncResult, Synced, is_conflict, is_not_found, tenant_call};
use crate::context::Context;
use crate::convert::{ConvertError, event, ingress, owned_by, public, pvc, recorded_uid, service};
use crate::queue::{Resource as Res, WorkKey};
use crate::tenant::Tenant;

/// Runs the upward reconciler of `res`.
pub async fn dispatch(ctx: &Context, tenant: &Tenant, key: &WorkKey, res: Res) -> SyncResult {
    match res {
        Res::Service => service_up(ctx, tenant, key).await,
        Res::PersistentVolumeClaim => pvc_up(ctx, tenant, key).await,
        Res::Ingress => ingress_up(ctx, tenant, key).await,
        Res::Event => event_up(ctx, tenant, key).await,
        Res::StorageClass => {
            let p = ctx.supers.storageclasses.get("", &key.name);
            broadcast::<StorageClass>(ctx, tenant, &key.name, p.as_deref()).await
        }
        Res::PriorityClass => {
            let p = ctx.supers.priorityclasses.get("", &key.name);
            broadcast::<PriorityClass>(ctx, tenant, &key.name, p.as_deref()).await
        }
        Res::PersistentVolume => pv_up(ctx, tenant, &key.name).await,
        _ => Ok(Synced::Unchanged),
    }
}

/// The tenant object and its super copy (when owned by the tenant and of the same uid).
fn pair<K: Resource + Clone>(
    tenant: &Tenant,
    v: Option<std::sync::Arc<K>>,
    p: Option<std::sync::Arc<K>>,
) -> Option<(std::sync::Arc<K>, std::sync::Arc<K>)> {
    let (v, p) = (v?, p?);
    (owned_by(p.meta(), &tenant.key) && recorded_uid(p.meta()) == v.meta().uid.as_deref())
        .then_some((v, p))
}

async fn service_up(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let tctx = tenant.ctx();
    let super_ns = tctx.super_ns(&key.namespace).map_err(ConvertError::from)?;
    let Some((v, p)) = pair(
        tenant,
        tenant.caches.services.get(&key.namespace, &key.name),
        ctx.supers.services.get(&super_ns, &key.name),
    ) else {
        return Ok(Synced::Unchanged);
    };
    let api: Api<Service> = Api::namespaced(tenant.client.clone(), &key.namespace);
    // The super cluster owns the node-port space: the tenant sees the ports really allocated.
    let node_ports = service::node_ports_up(&v, &p);
    if let Some(ports) = &node_ports {
        let body = serde_json::json!({
            "metadata": {"uid": v.metadata.uid},
            "spec": {"ports": ports},
        });
        tenant_call(
            ctx,
            api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
        )
        .await?;
    }
    let Some((out, lb_changed)) = service::up(&tctx, &v, &p) else {
        return Ok(if node_ports.is_some() {
            Synced::Updated
        } else {
            Synced::Unchanged
        });
    };
    let body = serde_json::json!({
        "metadata": {"uid": v.metadata.uid, "annotations": out.metadata.annotations},
    });
    tenant_call(
        ctx,
        api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
    )
    .await?;
    if lb_changed {
        let body = serde_json::json!({
            "metadata": {"uid": v.metadata.uid},
            "status": out.status,
        });
        tenant_call(
            ctx,
            api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
        )
        .await?;
    }
    // Pods created from now on see the service's super IP in their env.
    Ok(Synced::Updated)
}

async fn pvc_up(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let super_ns = tenant
        .ctx()
        .super_ns(&key.namespace)
        .map_err(ConvertError::from)?;
    let Some((v, p)) = pair(
        tenant,
        tenant.caches.pvcs.get(&key.namespace, &key.name),
        ctx.supers.pvcs.get(&super_ns, &key.name),
    ) else {
        return Ok(Synced::Unchanged);
    };
    let Some((out, spec_changed)) = pvc::up(&v, &p) else {
        return Ok(Synced::Unchanged);
    };
    let api: Api<PersistentVolumeClaim> = Api::namespaced(tenant.client.clone(), &key.namespace);
    if spec_changed {
        if let Some(pv) = out.spec.as_ref().and_then(|s| s.volume_name.as_deref()) {
            // The tenant must see the volume before its claim names it.
            pv_up(ctx, tenant, pv).await?;
        }
        let body = serde_json::json!({
            "metadata": {"uid": v.metadata.uid},
            "spec": {"volumeName": out.spec.as_ref().and_then(|s| s.volume_name.clone())},
        });
        tenant_call(
            ctx,
            api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
        )
        .await?;
    }
    let body = serde_json::json!({"metadata": {"uid": v.metadata.uid}, "status": out.status});
    tenant_call(
        ctx,
        api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
    )
    .await?;
    Ok(Synced::Updated)
}

async fn ingress_up(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let super_ns = tenant
        .ctx()
        .super_ns(&key.namespace)
        .map_err(ConvertError::from)?;
    let Some((v, p)) = pair(
        tenant,
        tenant.caches.ingresses.get(&key.namespace, &key.name),
        ctx.supers.ingresses.get(&super_ns, &key.name),
    ) else {
        return Ok(Synced::Unchanged);
    };
    let Some(status) = ingress::status_up(&v, &p) else {
        return Ok(Synced::Unchanged);
    };
    let api: Api<Ingress> = Api::namespaced(tenant.client.clone(), &key.namespace);
    let body = serde_json::json!({"metadata": {"uid": v.metadata.uid}, "status": status});
    tenant_call(
        ctx,
        api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
    )
    .await?;
    Ok(Synced::Updated)
}

async fn event_up(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let super_ns = tenant
        .ctx()
        .super_ns(&key.namespace)
        .map_err(ConvertError::from)?;
    let Some(pev) = ctx.supers.events.get(&super_ns, &key.name) else {
        return Ok(Synced::Unchanged);
    };
    let involved = &pev.involved_object;
    let name = involved.name.clone().unwrap_or_default();
    let vuid = match involved.kind.as_deref() {
        Some("Pod") => tenant
            .caches
            .pods
            .get(&key.namespace, &name)
            .and_then(|p| p.metadata.uid.clone()),
        Some("Service") => tenant
            .caches
            .services
            .get(&key.namespace, &name)
            .and_then(|s| s.metadata.uid.clone()),
        _ => None,
    };
    let Some(vuid) = vuid else {
        return Ok(Synced::Unchanged);
    };
    let vref = k8s_openapi::api::core::v1::ObjectReference {
        namespace: Some(key.namespace.clone()),
        name: Some(name),
        uid: Some(vuid),
        ..Default::default()
    };
    let desired = event::up(&pev, &vref);
    let api: Api<Event> = Api::namespaced(tenant.client.clone(), &key.namespace);
    match tenant_call(ctx, api.create(&PostParams::default(), &desired)).await {
        Ok(_) => Ok(Synced::Created),
        Err(e) if is_conflict(&e) => {
            let existing = tenant_call(ctx, api.get(&key.name)).await?;
            if !event::changed(&desired, &existing) {
                return Ok(Synced::Unchanged);
            }
            let body = serde_json::json!({
                "count": desired.count,
                "message": desired.message,
                "lastTimestamp": desired.last_timestamp,
                "series": desired.series,
            });
            tenant_call(
                ctx,
                api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&body)),
            )
            .await?;
            Ok(Synced::Updated)
        }
        Err(e) => Err(e),
    }
}

/// Creates, updates or removes the tenant copy of a public super object.
async fn broadcast<K>(ctx: &Context, tenant: &Tenant, name: &str, p: Option<&K>) -> SyncResult
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::all(tenant.client.clone());
    let existing = tenant_call(ctx, api.get_opt(name)).await?;
    match (p, existing) {
        (Some(p), None) => {
            let copy = public::strip(p.clone());
            match tenant_call(ctx, api.create(&PostParams::default(), &copy)).await {
                Ok(_) => Ok(Synced::Created),
                Err(e) if is_conflict(&e) => Ok(Synced::Unchanged),
                Err(e) => Err(e),
            }
        }
        (Some(p), Some(v)) => {
            if !public::is_public(v.meta()) {
                // The tenant has its own object of that name: leave it alone.
                return Ok(Synced::Unchanged);
            }
            if !public::differs(p, &v) {
                return Ok(Synced::Unchanged);
            }
            let mut copy = public::strip(p.clone());
            copy.meta_mut().resource_version = v.meta().resource_version.clone();
            copy.meta_mut().uid = v.meta().uid.clone();
            tenant_call(ctx, api.replace(name, &PostParams::default(), &copy)).await?;
            Ok(Synced::Updated)
        }
        (None, Some(v)) if public::is_public(v.meta()) => {
            match tenant_call(ctx, api.delete(name, &DeleteParams::default())).await {
                Ok(_) => Ok(Synced::Deleted),
                Err(e) if is_not_found(&e) => Ok(Synced::Unchanged),
                Err(e) => Err(e),
            }
        }
        _ => Ok(Synced::Unchanged),
    }
}

/// A super PV: broadcast when public, else shown to the tenant whose claim it is bound to.
async fn pv_up(ctx: &Context, tenant: &Tenant, name: &str) -> SyncResult {
    let Some(ppv) = ctx.supers.pvs.get("", name) else {
        return broadcast::<PersistentVolume>(ctx, tenant, name, None).await;
    };
    if public::is_public(&ppv.metadata) {
        return broadcast::<PersistentVolume>(ctx, tenant, name, Some(&ppv)).await;
    }
    let Some(claim) = ppv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return Ok(Synced::Unchanged);
    };
    let (Some(cns), Some(cname)) = (claim.namespace.as_deref(), claim.name.as_deref()) else {
        return Ok(Synced::Unchanged);
    };
    let Some(ppvc) = ctx.supers.pvcs.get(cns, cname) else {
        return Ok(Synced::Unchanged);
    };
    let Some((t, origin)) = ctx.origin_of(&ppvc.metadata) else {
        return Ok(Synced::Unchanged);
    };
    if t.key != tenant.key {
        return Ok(Synced::Unchanged);
    }
    let Some(vpvc) = tenant.caches.pvcs.get(&origin.namespace, cname) else {
        return Ok(Synced::Unchanged);
    };
    let desired = pvc::pv_up(&ppv, &vpvc);
    let api: Api<PersistentVolume> = Api::all(tenant.client.clone());
    match tenant_call(ctx, api.get_opt(name)).await? {
        None => match tenant_call(ctx, api.create(&PostParams::default(), &desired)).await {
            Ok(_) => Ok(Synced::Created),
            Err(e) if is_conflict(&e) => Ok(Synced::Unchanged),
            Err(e) => Err(e),
        },
        Some(existing) if existing.spec != desired.spec => {
            let mut copy = desired;
            copy.metadata.resource_version = existing.metadata.resource_version.clone();
            copy.metadata.uid = existing.metadata.uid.clone();
            tenant_call(ctx, api.replace(name, &PostParams::default(), &copy)).await?;
            Ok(Synced::Updated)
        }
        Some(_) => Ok(Synced::Unchanged),
    }
}
