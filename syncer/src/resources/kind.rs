//! What a synced resource tells the generic parts of the syncer: its caches and watches, its
//! reconcilers in each direction, its patrol check, its events and its quota charges. Every
//! method but [`SyncedKind::resource`] and [`SyncedKind::add_stores`] has a default that does
//! nothing, so a module implements only what its kind does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::config::SyncerConfig;
use crate::context::Context;
use crate::patrol::compare::Scope;
use crate::queue::{Resource, WorkKey};
use crate::quota::{Amounts, Kind};
use crate::reconcile::{SyncResult, Synced};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;

/// A reconcile in flight.
pub type SyncFuture<'a> = Pin<Box<dyn Future<Output = SyncResult> + Send + 'a>>;

/// Where [`SyncedKind::quota_charges`] reports each charged super object.
pub type ChargeSink<'a> = dyn FnMut(Kind, &ObjectMeta, Amounts) + 'a;

/// A reconcile with nothing to do.
pub fn unchanged<'a>() -> SyncFuture<'a> {
    Box::pin(std::future::ready(Ok(Synced::Unchanged)))
}

/// One synced resource, as listed in the resource table.
pub trait SyncedKind: Send + Sync {
    /// The resource: work keys, metric labels, store lookups.
    fn resource(&self) -> Resource;

    /// Whether it is synced under these settings (its stores exist either way, empty).
    fn enabled(&self, _config: &SyncerConfig) -> bool {
        true
    }

    /// Adds the stores it owns to a tenant's caches and to the super caches; `enabled` says
    /// whether they will be watched (only watched stores must sync before work starts).
    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, enabled: bool);

    /// Starts its super-cluster watch, routing changes to tenant work.
    fn watch_super(&self, _ctx: &Arc<Context>) {}

    /// Starts its watch of one tenant.
    fn watch_tenant(&self, _ctx: &Arc<Context>, _tenant: &Arc<Tenant>) {}

    /// Reconciles one downward work item.
    fn down<'a>(&'a self, _ctx: &'a Context, _t: &'a Tenant, _key: &'a WorkKey) -> SyncFuture<'a> {
        unchanged()
    }

    /// Reconciles one upward work item.
    fn up<'a>(&'a self, _ctx: &'a Context, _t: &'a Tenant, _key: &'a WorkKey) -> SyncFuture<'a> {
        unchanged()
    }

    /// Compares the tenant's objects with their super copies and queues what differs.
    fn patrol(&self, _ctx: &Context, _t: &Tenant, _scope: &Scope) {}

    /// Queues upward work for the tenant's super objects (it was not watched for a while).
    fn resync_up(&self, _ctx: &Context, _t: &Tenant, _scope: &Scope) {}

    /// Whether a change of the VirtualCluster's policy re-queues every tenant object of it
    /// (objects refused before may now be allowed, and the other way round).
    fn policy_sensitive(&self) -> bool {
        false
    }

    /// The tenant object of `key` as the involved object of a Warning event.
    fn involved(&self, t: &Tenant, key: &WorkKey) -> Option<ObjectReference> {
        t.caches
            .of(key.resource)?
            .object_ref(&key.namespace, &key.name)
    }

    /// Reports every super object the tenants' quotas charge, with what it uses.
    fn quota_charges(&self, _ctx: &Context, _charge: &mut ChargeSink<'_>) {}
}
