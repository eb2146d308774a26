//! Hand-written `EndpointSlice`s (those no endpoints controller manages): copied down under the
//! same address rules as [`super::endpoints`]; FQDN slices are refused.

use std::sync::Arc;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::endpoints::check_endpoint_addresses;
use super::kind::{SyncFuture, SyncedKind};
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert::{Change as Write, ConvertError, TenantCtx, endpoints};
use crate::queue::{Resource, WorkKey};
use crate::reconcile::down::{self, DownSync};
use crate::route::{self, Lookup};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// `discovery.k8s.io/v1` EndpointSlice (hand-written ones only).
pub const RESOURCE: Resource = Resource::namespaced("endpointslices");

/// The endpoint-slice entry of the resource table.
pub struct EndpointSlices;

impl SyncedKind for EndpointSlices {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, _enabled: bool) {
        // Work starts without waiting for slices: few tenants write any.
        tenant.add::<EndpointSlice>(RESOURCE, false);
        supers.add::<EndpointSlice>(RESOURCE, false);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        watch::super_watch(
            ctx,
            watch::managed(),
            |ctx, c: Change<'_, EndpointSlice>| {
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
        let spec = WatchSpec {
            keep: Box::new(endpoints::slice_is_hand_written),
            ..WatchSpec::default()
        };
        watch::tenant_watch::<EndpointSlice>(t, RESOURCE, &ctx.down, spec);
    }

    fn down<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(down::sync::<EndpointSlice>(ctx, t, key))
    }

    fn policy_sensitive(&self) -> bool {
        true
    }
}

impl DownSync for EndpointSlice {
    const RESOURCE: Resource = RESOURCE;

    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        endpoints::slice_desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Write<Self> {
        endpoints::slice_diff(d, e)
    }
    fn wanted(_t: &Tenant, v: &Self) -> bool {
        endpoints::slice_is_hand_written(v)
    }
    fn admit(ctx: &Context, t: &Tenant, v: &Self) -> Result<(), ConvertError> {
        if v.address_type == "FQDN" {
            return Err(ConvertError::NotSupported(
                "FQDN EndpointSlices are not synced: the super cluster's proxies ignore them; \
                 use an ExternalName service (spec.servicePolicy.allowedExternalNames)"
                    .into(),
            ));
        }
        let addresses = endpoints::slice_addresses(v);
        check_endpoint_addresses(ctx, t, &addresses)
    }
}

/// The work item of a super endpoint slice: the tenant slice it stands for.
pub fn route(meta: &ObjectMeta, tenants: &impl Lookup) -> Option<WorkKey> {
    route::origin(meta)?.key(tenants, RESOURCE)
}
