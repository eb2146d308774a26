//! Generic pieces of upward sync: pairing a tenant object with its super copy, and showing
//! public super objects to tenants. The upward reconcilers themselves live in the resource
//! modules.

use std::sync::Arc;

use kube::Resource;
use kube::api::{Api, DeleteParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{SyncResult, Synced, is_conflict, is_not_found, tenant_call};
use crate::context::Context;
use crate::convert::{owned_by, public, recorded_uid};
use crate::tenants::tenant::Tenant;

/// The tenant object and its super copy, when the copy is owned by the tenant and records the
/// tenant object's uid.
pub fn pair<K: Resource + Clone>(
    tenant: &Tenant,
    v: Option<Arc<K>>,
    p: Option<Arc<K>>,
) -> Option<(Arc<K>, Arc<K>)> {
    let (v, p) = (v?, p?);
    (owned_by(p.meta(), &tenant.key) && recorded_uid(p.meta()) == v.meta().uid.as_deref())
        .then_some((v, p))
}

/// Creates, updates or removes the tenant copy of a public super object.
pub async fn broadcast<K>(ctx: &Context, tenant: &Tenant, name: &str, p: Option<&K>) -> SyncResult
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
