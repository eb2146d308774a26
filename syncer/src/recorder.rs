//! Warning events: on tenant objects that cannot be synced, and on VirtualClusters whose tenant
//! is unhealthy. Repeats of the same warning bump the count of one event.

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

use crate::context::Context;
use crate::convert::event;
use crate::queue::{Resource as Res, WorkKey};

/// The tenant object a work key names, as an event's involved object.
fn involved(ctx: &Context, key: &WorkKey) -> Option<ObjectReference> {
    let tenant = ctx.tenant(&key.tenant)?;
    let c = &tenant.caches;
    let (kind, api_version, uid) = match key.resource {
        Res::Pod => (
            "Pod",
            "v1",
            c.pods.get(&key.namespace, &key.name)?.metadata.uid.clone(),
        ),
        Res::Service => (
            "Service",
            "v1",
            c.services
                .get(&key.namespace, &key.name)?
                .metadata
                .uid
                .clone(),
        ),
        Res::Secret => (
            "Secret",
            "v1",
            c.secrets
                .get(&key.namespace, &key.name)?
                .metadata
                .uid
                .clone(),
        ),
        Res::ConfigMap => (
            "ConfigMap",
            "v1",
            c.configmaps
                .get(&key.namespace, &key.name)?
                .metadata
                .uid
                .clone(),
        ),
        Res::ServiceAccount => (
            "ServiceAccount",
            "v1",
            c.serviceaccounts
                .get(&key.namespace, &key.name)?
                .metadata
                .uid
                .clone(),
        ),
        Res::Endpoints => (
            "Endpoints",
            "v1",
            c.endpoints
                .get(&key.namespace, &key.name)?
                .metadata
                .uid
                .clone(),
        ),
        Res::EndpointSlice => (
            "EndpointSlice",
            "discovery.k8s.io/v1",
            c.endpointslices
                .get(&key.namespace, &key.name)?
                .metadata
                .uid
                .clone(),
        ),
        Res::PersistentVolumeClaim => (
            "PersistentVolumeClaim",
            "v1",
            c.pvcs.get(&key.namespace, &key.name)?.metadata.uid.clone(),
        ),
        Res::Ingress => (
            "Ingress",
            "networking.k8s.io/v1",
            c.ingresses
                .get(&key.namespace, &key.name)?
                .metadata
                .uid
                .clone(),
        ),
        Res::Namespace => (
            "Namespace",
            "v1",
            c.namespaces.get("", &key.name)?.metadata.uid.clone(),
        ),
        _ => return None,
    };
    Some(ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.into()),
        // Events about a namespace live in it (as the namespace controller records them).
        namespace: Some(if key.resource == Res::Namespace {
            key.name.clone()
        } else {
            key.namespace.clone()
        }),
        name: Some(key.name.clone()),
        uid,
        ..ObjectReference::default()
    })
}

/// Records a Warning event on the tenant object of `key`.
pub async fn warn_tenant_object(ctx: &Context, key: &WorkKey, reason: &str, message: &str) {
    let (Some(tenant), Some(obj)) = (ctx.tenant(&key.tenant), involved(ctx, key)) else {
        return;
    };
    record(&tenant.client, obj, reason, message).await;
}

/// Records a Warning event on a VirtualCluster in the super cluster.
pub async fn warn_vc(client: &Client, vc: ObjectReference, reason: &str, message: &str) {
    record(client, vc, reason, message).await;
}

/// Creates the event, or bumps the count of the same warning recorded before.
pub async fn record(client: &Client, obj: ObjectReference, reason: &str, message: &str) {
    let ns = obj.namespace.clone().unwrap_or_else(|| "default".into());
    let now = jiff::Timestamp::now();
    let mut ev = event::warning(obj.clone(), reason, message, now);
    let seed = format!(
        "{}/{}/{reason}/{message}",
        obj.uid.clone().unwrap_or_default(),
        obj.name.clone().unwrap_or_default()
    );
    let name = format!(
        "{}.{}",
        obj.name.clone().unwrap_or_default(),
        crds::tenancy::short_hash(&seed, 16)
    );
    ev.metadata.name = Some(name.clone());
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    let timeout = std::time::Duration::from_secs(10);
    let created = tokio::time::timeout(timeout, api.create(&PostParams::default(), &ev)).await;
    match created {
        Ok(Ok(_)) => {}
        Ok(Err(kube::Error::Api(s))) if s.code == 409 => {
            let Ok(Ok(existing)) = tokio::time::timeout(timeout, api.get(&name)).await else {
                return;
            };
            let body = serde_json::json!({
                "count": existing.count.unwrap_or(1) + 1,
                "lastTimestamp": ev.last_timestamp,
            });
            let _ = tokio::time::timeout(
                timeout,
                api.patch(
                    &existing.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&body),
                ),
            )
            .await;
        }
        Ok(Err(e)) => tracing::warn!(error = %e, reason, "recording event failed"),
        Err(_) => tracing::warn!(reason, "recording event timed out"),
    }
}
