//! The tenant tokens of a service account's pods: a super secret per (namespace, service
//! account) holds a token issued by the tenant's TokenRequest API, replaced before it expires.

use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Api;
use kube::api::PostParams;

use super::RESOURCE;
use crate::context::Context;
use crate::convert::secret::{self, IssuedToken, token_needs_refresh, token_refresh_at};
use crate::convert::{ConvertError, owned_by};
use crate::queue::WorkKey;
use crate::reconcile::down::{self, delete_super};
use crate::reconcile::{SyncError, SyncResult, Synced, is_conflict, super_call, tenant_call};
use crate::tenants::tenant::Tenant;

/// Downward sync of a service account, then upkeep of its pods' token secret.
pub async fn service_account(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let result = down::sync::<ServiceAccount>(ctx, tenant, key).await?;
    let super_ns = tenant
        .ctx()
        .super_ns(&key.namespace)
        .map_err(ConvertError::from)?;
    let name = secret::token_secret_name(&key.name);
    let Some(existing) = ctx.supers.get::<Secret>().get(&super_ns, &name) else {
        return Ok(result);
    };
    if !owned_by(&existing.metadata, &tenant.key) {
        return Ok(result);
    }
    let sa_gone = tenant
        .caches
        .get::<ServiceAccount>()
        .get(&key.namespace, &key.name)
        .is_none();
    if sa_gone {
        tenant
            .tokens
            .lock()
            .await
            .remove(&(key.namespace.clone(), key.name.clone()));
        delete_super::<Secret>(ctx, &super_ns, &existing).await?;
        return Ok(Synced::Deleted);
    }
    let now = jiff::Timestamp::now();
    if token_needs_refresh(&existing, now) {
        let mut issued = tenant.tokens.lock().await;
        let refresh_at = issue(ctx, tenant, &key.namespace, &key.name).await?;
        issued.insert(
            (key.namespace.clone(), key.name.clone()),
            (std::time::Instant::now(), refresh_at),
        );
        return Ok(Synced::Updated);
    }
    schedule_refresh(ctx, tenant, &key.namespace, &key.name, &existing, now);
    Ok(result)
}

/// The name of the super secret with a fresh tenant token for `sa`, issuing one when needed.
/// Concurrent callers for one tenant wait for each other, so a burst of pods of one service
/// account causes a single TokenRequest even before the secret shows up in the cache.
pub async fn ensure(
    ctx: &Context,
    tenant: &Tenant,
    tenant_ns: &str,
    sa: &str,
) -> Result<String, SyncError> {
    let name = secret::token_secret_name(sa);
    let now = jiff::Timestamp::now();
    let mut issued = tenant.tokens.lock().await;
    let key = (tenant_ns.to_string(), sa.to_string());
    let super_ns = tenant
        .ctx()
        .super_ns(tenant_ns)
        .map_err(ConvertError::from)?;
    if let Some((at, refresh_at)) = issued.get(&key)
        && now < *refresh_at
    {
        // Trust the memo while the cache may lag behind our write; later, the secret must exist
        // (someone may have deleted it).
        let young = at.elapsed() < std::time::Duration::from_secs(10);
        if young || ctx.supers.get::<Secret>().get(&super_ns, &name).is_some() {
            return Ok(name);
        }
    }
    if let Some(existing) = ctx.supers.get::<Secret>().get(&super_ns, &name)
        && owned_by(&existing.metadata, &tenant.key)
        && !token_needs_refresh(&existing, now)
    {
        if let Some(at) = token_refresh_at(&existing) {
            issued.insert(key, (std::time::Instant::now(), at));
        }
        return Ok(name);
    }
    let refresh_at = issue(ctx, tenant, tenant_ns, sa).await?;
    issued.insert(key, (std::time::Instant::now(), refresh_at));
    Ok(name)
}

/// Requests a token from the tenant and writes it to the super secret.
async fn issue(
    ctx: &Context,
    tenant: &Tenant,
    tenant_ns: &str,
    sa: &str,
) -> Result<jiff::Timestamp, SyncError> {
    let vsa = tenant
        .caches
        .get::<ServiceAccount>()
        .get(tenant_ns, sa)
        .ok_or_else(|| {
            ConvertError::NotReady(format!(
                "service account {tenant_ns}/{sa} does not exist in the tenant yet"
            ))
        })?;
    let sa_uid = vsa.metadata.uid.clone().unwrap_or_default();
    let ttl = i64::try_from(ctx.config.token_ttl_secs).unwrap_or(3600);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            expiration_seconds: Some(ttl),
            bound_object_ref: None,
        },
        ..TokenRequest::default()
    };
    let api: Api<ServiceAccount> = Api::namespaced(tenant.client.clone(), tenant_ns);
    let issued = jiff::Timestamp::now();
    let resp: Result<TokenRequest, SyncError> = tenant_call(
        ctx,
        api.create_subresource("token", sa, &PostParams::default(), &request),
    )
    .await;
    let result = if resp.is_ok() { "ok" } else { "error" };
    ctx.metrics
        .token_requests
        .with_label_values(&[&*tenant.key, result])
        .inc();
    let resp = resp?;
    let status = resp.status.ok_or_else(|| {
        SyncError::Waiting("the tenant returned a TokenRequest without a token".into())
    })?;
    let token = IssuedToken {
        token: status.token,
        issued,
        expiry: status.expiration_timestamp.0,
    };
    let desired = secret::token_secret(
        &tenant.ctx(),
        tenant_ns,
        (sa, &sa_uid),
        &token,
        &tenant.ca_pem,
    )?;
    let super_ns = desired.metadata.namespace.clone().unwrap_or_default();
    let name = desired.metadata.name.clone().unwrap_or_default();
    let sapi: Api<Secret> = Api::namespaced(ctx.client.clone(), &super_ns);
    match ctx.supers.get::<Secret>().get(&super_ns, &name) {
        Some(existing) => {
            let mut update = desired.clone();
            update.metadata.uid = existing.metadata.uid.clone();
            update.metadata.resource_version = existing.metadata.resource_version.clone();
            super_call(sapi.replace(&name, &PostParams::default(), &update)).await?;
        }
        None => match super_call(sapi.create(&PostParams::default(), &desired)).await {
            Ok(_) => {}
            // Another worker issued it for a sibling pod a moment ago.
            Err(e) if is_conflict(&e) => {}
            Err(e) => return Err(e),
        },
    }
    schedule_refresh(ctx, tenant, tenant_ns, sa, &desired, jiff::Timestamp::now());
    token_refresh_at(&desired)
        .ok_or_else(|| SyncError::Waiting("the issued token has no expiry".into()))
}

fn schedule_refresh(
    ctx: &Context,
    tenant: &Tenant,
    tenant_ns: &str,
    sa: &str,
    s: &Secret,
    now: jiff::Timestamp,
) {
    let Some(at) = token_refresh_at(s) else {
        return;
    };
    let wait = at.duration_since(now);
    let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
    ctx.down
        .add_after(WorkKey::new(&tenant.key, RESOURCE, tenant_ns, sa), wait);
}
