//! StorageClasses, upward only: public super storageclasses are shown to every tenant.

use std::sync::Arc;

use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;

use super::kind::{SyncFuture, SyncedKind};
use crate::cache::Change;
use crate::context::Context;
use crate::patrol::compare::Scope;
use crate::queue::{Resource, WorkKey};
use crate::reconcile::up::broadcast;
use crate::route;
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// `storage.k8s.io/v1` StorageClass (upward only).
pub const RESOURCE: Resource = Resource::cluster_scoped("storageclasses");

/// The StorageClass entry of the resource table.
pub struct StorageClasses;

impl SyncedKind for StorageClasses {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, _tenant: &mut Stores, supers: &mut Stores, _enabled: bool) {
        supers.add::<StorageClass>(RESOURCE, false);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        watch::super_watch(ctx, watch::public(), |ctx, c: Change<'_, StorageClass>| {
            for key in route::broadcast(&c.object().metadata, &ctx.tenants, RESOURCE) {
                ctx.up.add(key);
            }
        });
    }

    fn up<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(async move {
            let p = ctx.supers.get::<StorageClass>().get("", &key.name);
            broadcast::<StorageClass>(ctx, t, &key.name, p.as_deref()).await
        })
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, _scope: &Scope) {
        for p in ctx.supers.get::<StorageClass>().list() {
            ctx.up.add(WorkKey::new(&t.key, RESOURCE, "", p.name_any()));
        }
    }
}
