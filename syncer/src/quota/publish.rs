//! What the ledgers show: `status.quota` on each VirtualCluster and the
//! `syncer_tenant_quota_{used,hard}` gauges.

use crds::{TenantQuotaStatus, VirtualCluster};
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::{Entry, usage};
use crate::context::Context;

/// The `status.quota` a tenant should show.
fn status_of(e: &Entry) -> Option<TenantQuotaStatus> {
    let hard = e.hard_text.clone()?;
    let used = e.ledger.used();
    let used = hard
        .keys()
        .filter(|r| usage::is_tracked(r))
        .map(|r| {
            (
                r.clone(),
                usage::format(r, used.get(r).copied().unwrap_or(0)),
            )
        })
        .collect();
    Some(TenantQuotaStatus { hard, used })
}

/// Writes `status.quota` of VirtualClusters whose quota or usage changed, and the gauges.
pub(super) async fn publish(ctx: &Context) {
    let mut writes = Vec::new();
    {
        let mut map = ctx.quota.lock();
        for (key, e) in map.iter_mut() {
            if ctx.tenant(key).is_none() {
                continue;
            }
            gauges(ctx, key, e);
            let want = status_of(e);
            let (Some(vc), Some(published)) = (&e.vc, &e.published) else {
                continue;
            };
            if *published != want {
                writes.push((key.clone(), vc.clone(), want));
            }
        }
    }
    for (key, (ns, name), want) in writes {
        match write_status(ctx, &ns, &name, want.as_ref()).await {
            Ok(()) => ctx.quota.with(&key, |e| e.published = Some(want)),
            Err(e) => {
                tracing::warn!(tenant = key, error = %e, "writing status.quota of the VirtualCluster failed")
            }
        }
    }
}

/// Sets the tenant's `syncer_tenant_quota_{hard,used}` gauges (in units: cores, bytes,
/// objects), dropping series of resources no longer limited.
fn gauges(ctx: &Context, key: &str, e: &mut Entry) {
    let hard = e.ledger.hard().cloned().unwrap_or_default();
    let m = &ctx.metrics;
    for r in &e.gauges {
        if !hard.contains_key(r) {
            let _ = m.quota_hard.remove_label_values(&[key, r]);
            let _ = m.quota_used.remove_label_values(&[key, r]);
        }
    }
    let used = e.ledger.used();
    let units = |milli: i128| milli as f64 / usage::ONE as f64;
    for (r, limit) in &hard {
        m.quota_hard.with_label_values(&[key, r]).set(units(*limit));
        if usage::is_tracked(r) {
            m.quota_used
                .with_label_values(&[key, r])
                .set(units(used.get(r).copied().unwrap_or(0)));
        }
    }
    e.gauges = hard.into_keys().collect();
}

/// Replaces (or removes) `status.quota` with a JSON patch; a VirtualCluster without a status
/// yet gets a merge patch.
async fn write_status(
    ctx: &Context,
    ns: &str,
    name: &str,
    want: Option<&TenantQuotaStatus>,
) -> Result<(), kube::Error> {
    let api: Api<VirtualCluster> = Api::namespaced(ctx.client.clone(), ns);
    let pp = PatchParams::default();
    let ops = match want {
        Some(q) => serde_json::json!([{"op": "add", "path": "/status/quota", "value": q}]),
        None => serde_json::json!([{"op": "remove", "path": "/status/quota"}]),
    };
    let patch: Patch<serde_json::Value> =
        Patch::Json(serde_json::from_value(ops).map_err(kube::Error::SerdeError)?);
    match api.patch_status(name, &pp, &patch).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        // No status yet (add needs the parent), or no quota to remove.
        Err(kube::Error::Api(s)) if s.code == 422 || s.code == 400 || s.code == 500 => {
            let body = serde_json::json!({"status": {"quota": want}});
            api.patch_status(name, &pp, &Patch::Merge(&body))
                .await
                .map(drop)
        }
        Err(e) => Err(e),
    }
}
