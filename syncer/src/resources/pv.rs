//! PersistentVolumes, upward only: public super volumes are shown to every tenant, a volume
//! bound to a synced claim to that claim's tenant.

use std::sync::{Arc, Weak};

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::ResourceExt;
use kube::api::{Api, PostParams};

use super::kind::{SyncFuture, SyncedKind};
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert::{public, pvc};
use crate::patrol::compare::Scope;
use crate::queue::{Resource, WorkKey};
use crate::reconcile::up::broadcast;
use crate::reconcile::{SyncResult, Synced, is_conflict, tenant_call};
use crate::route::{self, Lookup};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// `core/v1` PersistentVolume (upward only).
pub const RESOURCE: Resource = Resource::cluster_scoped("persistentvolumes");

/// The volume entry of the resource table.
pub struct Volumes;

impl SyncedKind for Volumes {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, _tenant: &mut Stores, supers: &mut Stores, _enabled: bool) {
        supers.add::<PersistentVolume>(RESOURCE, false);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        // Only public volumes and volumes of synced claims are kept.
        let me: Weak<Context> = Arc::downgrade(ctx);
        let spec = WatchSpec {
            keep: Box::new(move |pv: &PersistentVolume| {
                public::is_public(&pv.metadata)
                    || me
                        .upgrade()
                        .is_some_and(|ctx| !route(pv, &ctx.tenants).is_empty())
            }),
            ..WatchSpec::default()
        };
        watch::super_watch(ctx, spec, |ctx, c: Change<'_, PersistentVolume>| {
            for key in route(c.object(), &ctx.tenants) {
                ctx.up.add(key);
            }
        });
    }

    fn up<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(up(ctx, t, &key.name))
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, _scope: &Scope) {
        for pv in ctx.supers.get::<PersistentVolume>().list() {
            if public::is_public(&pv.metadata) {
                ctx.up
                    .add(WorkKey::new(&t.key, RESOURCE, "", pv.name_any()));
            }
        }
    }
}

/// The work items of a super volume: every tenant for a public one, else the tenant of the
/// claim it is bound to (found through the claim's super namespace).
pub fn route(pv: &PersistentVolume, tenants: &impl Lookup) -> Vec<WorkKey> {
    if public::is_public(&pv.metadata) {
        return route::broadcast(&pv.metadata, tenants, RESOURCE);
    }
    let claim_ns = pv
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .and_then(|c| c.namespace.as_deref());
    let Some((tenant, _)) = claim_ns.and_then(|ns| tenants.namespace_owner(ns)) else {
        return Vec::new();
    };
    let name = pv.metadata.name.as_deref().unwrap_or_default();
    vec![WorkKey::new(&tenant, RESOURCE, "", name)]
}

/// A super PV: broadcast when public, else shown to the tenant whose claim it is bound to.
pub async fn up(ctx: &Context, tenant: &Tenant, name: &str) -> SyncResult {
    let Some(ppv) = ctx.supers.get::<PersistentVolume>().get("", name) else {
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
    let Some(ppvc) = ctx.supers.get::<PersistentVolumeClaim>().get(cns, cname) else {
        return Ok(Synced::Unchanged);
    };
    let Some(origin) = route::origin(&ppvc.metadata) else {
        return Ok(Synced::Unchanged);
    };
    if origin.cluster != &*tenant.key {
        return Ok(Synced::Unchanged);
    }
    let claims = tenant.caches.get::<PersistentVolumeClaim>();
    let Some(vpvc) = claims.get(origin.namespace, cname) else {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crds::tenancy;
    use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolumeSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::route::testutil::Fake;

    fn pv(claim_ns: Option<&str>, public: bool) -> PersistentVolume {
        PersistentVolume {
            metadata: ObjectMeta {
                name: Some("pv-1".into()),
                labels: public.then(|| {
                    BTreeMap::from([(tenancy::LABEL_SUPER_PUBLIC.to_string(), "true".into())])
                }),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeSpec {
                claim_ref: claim_ns.map(|ns| ObjectReference {
                    namespace: Some(ns.into()),
                    name: Some("data".into()),
                    ..ObjectReference::default()
                }),
                ..PersistentVolumeSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn volumes_route_to_their_claims_tenant_or_to_everyone() {
        let tenants = Fake {
            served: vec!["a", "b"],
            namespaces: BTreeMap::from([("b-db", ("b", "db"))]),
            ..Fake::default()
        };
        let names =
            |keys: Vec<WorkKey>| -> Vec<String> { keys.iter().map(ToString::to_string).collect() };
        assert_eq!(
            names(route(&pv(Some("b-db"), false), &tenants)),
            vec!["b/persistentvolumes/pv-1"]
        );
        assert_eq!(
            names(route(&pv(None, true), &tenants)),
            vec!["a/persistentvolumes/pv-1", "b/persistentvolumes/pv-1"]
        );
        assert!(route(&pv(Some("other"), false), &tenants).is_empty());
        assert!(route(&pv(None, false), &tenants).is_empty());
    }
}
