//! Events: super events about synced pods and services, copied up to the tenant object they
//! concern. The pure rewrite is in `convert::event`.

use std::sync::{Arc, Weak};

use k8s_openapi::api::core::v1::{Event, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

use super::kind::{SyncFuture, SyncedKind};
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert::{ConvertError, event};
use crate::queue::{Resource, WorkKey};
use crate::reconcile::{SyncResult, Synced, is_conflict, tenant_call};
use crate::route::{self, Lookup};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// `core/v1` Event (upward only).
pub const RESOURCE: Resource = Resource::namespaced("events");

/// The event entry of the resource table.
pub struct Events;

impl SyncedKind for Events {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, _tenant: &mut Stores, supers: &mut Stores, _enabled: bool) {
        supers.add::<Event>(RESOURCE, false);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        // Only events about synced objects are kept: the rest of the super cluster's events
        // would cost memory for nothing.
        let me: Weak<Context> = Arc::downgrade(ctx);
        let spec = WatchSpec {
            keep: Box::new(move |ev: &Event| {
                me.upgrade()
                    .is_some_and(|ctx| route_cached(&ctx, ev).is_some())
            }),
            ..WatchSpec::default()
        };
        watch::super_watch(ctx, spec, |ctx, c: Change<'_, Event>| {
            if let Some(ev) = c.present() {
                watch::deliver(ctx, c, route_cached(ctx, ev), false, true);
            }
        });
    }

    fn up<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(up(ctx, t, key))
    }
}

/// [`route`] with the involved object looked up in the super caches.
fn route_cached(ctx: &Context, ev: &Event) -> Option<WorkKey> {
    let obj = &ev.involved_object;
    let (ns, name) = (obj.namespace.as_deref()?, obj.name.as_deref()?);
    match obj.kind.as_deref()? {
        "Pod" => {
            let pod = ctx.supers.get::<Pod>().get(ns, name);
            route(ev, pod.as_deref().map(|p| &p.metadata), &ctx.tenants)
        }
        "Service" => {
            let svc = ctx.supers.get::<Service>().get(ns, name);
            route(ev, svc.as_deref().map(|s| &s.metadata), &ctx.tenants)
        }
        _ => None,
    }
}

/// The work item of a super event about a synced pod or service: the tenant namespace is the
/// involved object's own origin when it is cached (`involved`), else its super namespace's.
/// A real scheduler writes `Scheduled` as soon as it binds, often before the pod watch has the
/// pod: the super namespace already tells whose it is.
pub fn route(ev: &Event, involved: Option<&ObjectMeta>, tenants: &impl Lookup) -> Option<WorkKey> {
    let obj = &ev.involved_object;
    if !event::UPWARD_KINDS.contains(&obj.kind.as_deref()?) {
        return None;
    }
    let (ns, _) = (obj.namespace.as_deref()?, obj.name.as_deref()?);
    let name = ev.metadata.name.as_deref().unwrap_or_default();
    match involved {
        Some(meta) => {
            let origin = route::origin(meta)?;
            let target = route::Target { name, ..origin };
            target.key(tenants, RESOURCE)
        }
        None => {
            let (tenant, tenant_ns) = tenants.namespace_owner(ns)?;
            Some(WorkKey::new(&tenant, RESOURCE, &*tenant_ns, name))
        }
    }
}

/// Upward sync of one super event: created in the tenant about the tenant object, or its
/// count and message brought up to date.
async fn up(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let super_ns = tenant
        .ctx()
        .super_ns(&key.namespace)
        .map_err(ConvertError::from)?;
    let Some(pev) = ctx.supers.get::<Event>().get(&super_ns, &key.name) else {
        return Ok(Synced::Unchanged);
    };
    let involved = &pev.involved_object;
    let name = involved.name.clone().unwrap_or_default();
    let vuid = match involved.kind.as_deref() {
        Some("Pod") => tenant
            .caches
            .get::<Pod>()
            .get(&key.namespace, &name)
            .and_then(|p| p.metadata.uid.clone()),
        Some("Service") => tenant
            .caches
            .get::<Service>()
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::ObjectReference;

    use super::*;
    use crate::route::testutil::{Fake, synced_meta};

    fn ev(kind: &str) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some("web.17f".into()),
                namespace: Some("t1-app".into()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                kind: Some(kind.into()),
                namespace: Some("t1-app".into()),
                name: Some("web".into()),
                ..ObjectReference::default()
            },
            ..Event::default()
        }
    }

    #[test]
    fn events_about_synced_pods_route_by_object_else_by_namespace() {
        let tenants = Fake {
            served: vec!["t1"],
            namespaces: BTreeMap::from([("t1-app", ("t1", "app"))]),
            ..Fake::default()
        };
        let pod = synced_meta("t1", "app", "web");
        let by_object = route(&ev("Pod"), Some(&pod), &tenants).expect("routed");
        assert_eq!(by_object.to_string(), "t1/events/app/web.17f");
        let by_namespace = route(&ev("Service"), None, &tenants).expect("routed");
        assert_eq!(by_namespace, by_object);
        assert_eq!(route(&ev("Node"), None, &tenants), None);
        let mut elsewhere = ev("Pod");
        elsewhere.involved_object.namespace = Some("kube-system".into());
        assert_eq!(route(&elsewhere, None, &tenants), None);
    }
}
