//! ConfigMaps: copied down as they are, except `kube-root-ca.crt` (every super namespace gets
//! the super cluster's CA there; pods get the tenant's CA with their service-account token).

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::kind::{SyncFuture, SyncedKind};
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert::{Change as Write, ConvertError, TenantCtx, configmap};
use crate::patrol::compare::{self, Scope};
use crate::queue::{Resource, WorkKey};
use crate::reconcile::down::{self, DownSync};
use crate::route::{self, Lookup};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// `core/v1` ConfigMap.
pub const RESOURCE: Resource = Resource::namespaced("configmaps");

/// The configmap with the cluster CA that Kubernetes publishes in every namespace.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

/// The configmap entry of the resource table.
pub struct ConfigMaps;

impl SyncedKind for ConfigMaps {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, enabled: bool) {
        tenant.add::<ConfigMap>(RESOURCE, enabled);
        supers.add::<ConfigMap>(RESOURCE, enabled);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        watch::super_watch(ctx, watch::managed(), |ctx, c: Change<'_, ConfigMap>| {
            watch::deliver(
                ctx,
                c,
                route(&c.object().metadata, &ctx.tenants),
                true,
                false,
            );
        });
    }

    fn watch_tenant(&self, ctx: &Arc<Context>, t: &Arc<Tenant>) {
        watch::tenant_watch::<ConfigMap>(t, RESOURCE, &ctx.down, WatchSpec::default());
    }

    fn down<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(down::sync::<ConfigMap>(ctx, t, key))
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        compare::patrol::<ConfigMap>(ctx, t, scope);
    }
}

impl DownSync for ConfigMap {
    const RESOURCE: Resource = RESOURCE;

    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        configmap::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Write<Self> {
        configmap::diff(d, e)
    }
    fn wanted(_t: &Tenant, v: &Self) -> bool {
        v.metadata.name.as_deref() != Some(ROOT_CA_CONFIGMAP)
    }
}

/// The work item of a super configmap: the tenant configmap it stands for.
pub fn route(meta: &ObjectMeta, tenants: &impl Lookup) -> Option<WorkKey> {
    route::origin(meta)?.key(tenants, RESOURCE)
}
