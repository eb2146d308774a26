//! The service-account entry of the resource table.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{RESOURCE, token};
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert::{Change as Write, ConvertError, TenantCtx, serviceaccount};
use crate::patrol::compare::{self, Scope};
use crate::queue::{Resource, WorkKey};
use crate::reconcile::down::DownSync;
use crate::resources::kind::{SyncFuture, SyncedKind};
use crate::route::{self, Lookup};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// The service-account entry of the resource table.
pub struct ServiceAccounts;

impl SyncedKind for ServiceAccounts {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, enabled: bool) {
        tenant.add::<ServiceAccount>(RESOURCE, enabled);
        supers.add::<ServiceAccount>(RESOURCE, enabled);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        watch::super_watch(
            ctx,
            watch::managed(),
            |ctx, c: Change<'_, ServiceAccount>| {
                watch::deliver(
                    ctx,
                    c,
                    route(&c.object().metadata, &ctx.tenants),
                    true,
                    false,
                );
            },
        );
    }

    fn watch_tenant(&self, ctx: &Arc<Context>, t: &Arc<Tenant>) {
        watch::tenant_watch::<ServiceAccount>(t, RESOURCE, &ctx.down, WatchSpec::default());
    }

    fn down<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(token::service_account(ctx, t, key))
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        compare::patrol::<ServiceAccount>(ctx, t, scope);
    }
}

impl DownSync for ServiceAccount {
    const RESOURCE: Resource = RESOURCE;

    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        serviceaccount::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Write<Self> {
        serviceaccount::diff(d, e)
    }
    fn adopt_existing(v: &Self) -> bool {
        // The super service-account controller creates `default` in every namespace.
        v.metadata.name.as_deref() == Some("default")
    }
}

/// The work item of a super service account: the tenant service account it stands for.
pub fn route(meta: &ObjectMeta, tenants: &impl Lookup) -> Option<WorkKey> {
    route::origin(meta)?.key(tenants, RESOURCE)
}
