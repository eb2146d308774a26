//! Warning events: on tenant objects that cannot be synced, and on VirtualClusters whose tenant
//! is unhealthy. Repeats of the same warning bump the count of one event.

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};

use crate::context::Context;
use crate::convert::event;

/// A tenant object as an event's involved object.
pub fn object_ref<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let m = obj.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        namespace: m.namespace.clone(),
        name: m.name.clone(),
        uid: m.uid.clone(),
        ..ObjectReference::default()
    }
}

/// Records a Warning event on an object of tenant `tenant_key`.
pub async fn warn_tenant(
    ctx: &Context,
    tenant_key: &str,
    obj: ObjectReference,
    reason: &str,
    message: &str,
) {
    let Some(tenant) = ctx.tenant(tenant_key) else {
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
