//! Secrets: copied down (service-account token secrets under another name, since the super
//! cluster's token controller owns the original type). Secret names starting with
//! `vc-sa-token-` are reserved for the tokens the syncer issues to pods. The pure conversions
//! are in `convert::secret`.

use std::sync::Arc;

use crds::tenancy;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::kind::{SyncFuture, SyncedKind};
use super::serviceaccount;
use crate::cache::{Change, WatchSpec};
use crate::context::Context;
use crate::convert::{Change as Write, ConvertError, TenantCtx, secret};
use crate::patrol::compare::{self, Scope};
use crate::queue::{Resource, WorkKey};
use crate::reconcile::down::{self, DownSync};
use crate::route::{self, Lookup};
use crate::stores::Stores;
use crate::tenants::tenant::Tenant;
use crate::watch;

/// `core/v1` Secret.
pub const RESOURCE: Resource = Resource::namespaced("secrets");

/// The secret entry of the resource table.
pub struct Secrets;

impl SyncedKind for Secrets {
    fn resource(&self) -> Resource {
        RESOURCE
    }

    fn add_stores(&self, tenant: &mut Stores, supers: &mut Stores, enabled: bool) {
        tenant.add::<Secret>(RESOURCE, enabled);
        supers.add::<Secret>(RESOURCE, enabled);
    }

    fn watch_super(&self, ctx: &Arc<Context>) {
        watch::super_watch(ctx, watch::managed(), |ctx, c: Change<'_, Secret>| {
            let key = route(&c.object().metadata, &ctx.tenants);
            watch::deliver(ctx, c, key, true, false);
        });
    }

    fn watch_tenant(&self, ctx: &Arc<Context>, t: &Arc<Tenant>) {
        watch::tenant_watch::<Secret>(t, RESOURCE, &ctx.down, WatchSpec::default());
    }

    fn down<'a>(&'a self, ctx: &'a Context, t: &'a Tenant, key: &'a WorkKey) -> SyncFuture<'a> {
        Box::pin(down::sync::<Secret>(ctx, t, key))
    }

    fn patrol(&self, ctx: &Context, t: &Tenant, scope: &Scope) {
        compare::patrol::<Secret>(ctx, t, scope);
    }

    fn policy_sensitive(&self) -> bool {
        true
    }
}

impl DownSync for Secret {
    const RESOURCE: Resource = RESOURCE;

    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        secret::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Write<Self> {
        secret::diff(d, e)
    }
    fn super_name(v: &Self) -> String {
        secret::super_name(v)
    }
    fn admit(_ctx: &Context, _t: &Tenant, v: &Self) -> Result<(), ConvertError> {
        let name = Self::super_name(v);
        if name.starts_with(secret::TOKEN_SECRET_PREFIX) {
            return Err(ConvertError::NameConflict(format!(
                "secret names starting with {:?} are reserved for the tokens the syncer issues \
                 to pods in the super cluster; rename the secret",
                secret::TOKEN_SECRET_PREFIX
            )));
        }
        Ok(())
    }
    fn super_copies(s: &Stores, super_ns: &str, name: &str) -> Vec<Arc<Self>> {
        s.get::<Secret>()
            .list_namespace(super_ns)
            .into_iter()
            .filter(|p| {
                p.metadata.name.as_deref() == Some(name)
                    || p.metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(tenancy::LABEL_SECRET_NAME))
                        .map(String::as_str)
                        == Some(name)
            })
            // Token secrets issued for pods belong to service accounts, not to a tenant secret.
            .filter(|p| !Self::is_syncer_own(p))
            .collect()
    }
    fn is_syncer_own(p: &Self) -> bool {
        secret::is_token_secret(&p.metadata)
    }
}

/// The work item of a super secret: a token secret belongs to its service account, a renamed
/// copy to the tenant secret whose name it records, any other copy to the same name.
pub fn route(meta: &ObjectMeta, tenants: &impl Lookup) -> Option<WorkKey> {
    let origin = route::origin(meta)?;
    let ann = meta.annotations.as_ref()?;
    if let Some(sa) = ann.get(secret::ANNOTATION_TOKEN_SA) {
        return origin.named(sa).key(tenants, serviceaccount::RESOURCE);
    }
    match ann.get(tenancy::LABEL_SECRET_NAME) {
        Some(vname) => origin.named(vname).key(tenants, RESOURCE),
        None => origin.key(tenants, RESOURCE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testutil::{Fake, synced_meta};

    fn with(mut meta: ObjectMeta, key: &str, value: &str) -> ObjectMeta {
        meta.annotations
            .get_or_insert_default()
            .insert(key.into(), value.into());
        meta
    }

    #[test]
    fn super_secrets_route_to_their_secret_or_service_account() {
        let tenants = Fake {
            served: vec!["t1"],
            ..Fake::default()
        };
        let plain = synced_meta("t1", "app", "creds");
        assert_eq!(
            route(&plain, &tenants).map(|k| k.to_string()),
            Some("t1/secrets/app/creds".into())
        );
        let renamed = with(
            synced_meta("t1", "app", "creds-abc12"),
            tenancy::LABEL_SECRET_NAME,
            "default-token-x",
        );
        assert_eq!(
            route(&renamed, &tenants).map(|k| k.to_string()),
            Some("t1/secrets/app/default-token-x".into())
        );
        let token = with(
            synced_meta("t1", "app", "vc-sa-token-builder"),
            secret::ANNOTATION_TOKEN_SA,
            "builder",
        );
        assert_eq!(
            route(&token, &tenants).map(|k| k.to_string()),
            Some("t1/serviceaccounts/app/builder".into())
        );
    }
}
