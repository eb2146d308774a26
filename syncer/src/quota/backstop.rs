//! Defense in depth: a ResourceQuota `vc-tenant-quota` in every super namespace of a tenant,
//! holding the tenant's whole limits. A per-namespace share cannot express a limit across
//! namespaces, so this never refuses what the syncer's ledger admits; it refuses what the syncer
//! would wrongly let through, and its `status.used` (summed over the tenant's namespaces) is
//! what the patrol checks the ledger against.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crds::quantity::parse_milli;
use crds::tenancy;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

use super::usage::{self, Amounts};
use crate::cache::{WatchSpec, run_watch};
use crate::context::Context;
use crate::convert::owned_by;
use crate::route;

/// Name of the backstop ResourceQuota in each super namespace.
pub const NAME: &str = "vc-tenant-quota";

/// Field manager of the syncer's server-side applies.
const MANAGER: &str = "vc-syncer";

/// The same write is not repeated sooner than this (e.g. while the watch lags).
const REWRITE_AFTER: Duration = Duration::from_secs(30);

/// The backstop for super namespace `super_ns` of the tenant with these labels.
pub fn desired(
    cluster_key: &str,
    labels: BTreeMap<String, String>,
    super_ns: &str,
    hard: &BTreeMap<String, String>,
) -> ResourceQuota {
    ResourceQuota {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            namespace: Some(super_ns.into()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                tenancy::ANNOTATION_CLUSTER.to_string(),
                cluster_key.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(ResourceQuotaSpec {
            hard: Some(
                hard.iter()
                    .map(|(k, v)| (k.clone(), Quantity(v.clone())))
                    .collect(),
            ),
            ..ResourceQuotaSpec::default()
        }),
        status: None,
    }
}

/// Parsed quantities of a resource list (unparsable entries left out).
fn amounts(list: Option<&BTreeMap<String, Quantity>>) -> Amounts {
    list.into_iter()
        .flatten()
        .filter_map(|(k, q)| parse_milli(&q.0).ok().map(|v| (k.clone(), v)))
        .collect()
}

/// Whether an existing backstop has the limits `hard` (compared as quantities: the API
/// server may rewrite `0.5` as `500m`).
pub fn up_to_date(existing: &ResourceQuota, hard: &Amounts) -> bool {
    amounts(existing.spec.as_ref().and_then(|s| s.hard.as_ref())) == *hard
}

/// Watches the backstops (objects labelled by the syncer only).
pub fn spawn_watch(ctx: &Arc<Context>) {
    let client = ctx.client.clone();
    let store = Arc::clone(&ctx.quota.backstops);
    let cancel = ctx.cancel.clone();
    let spec = WatchSpec {
        labels: Some(tenancy::LABEL_VC_NAME.to_string()),
        ..WatchSpec::default()
    };
    tokio::spawn(async move {
        run_watch(client, spec, store, |_| {}, cancel).await;
    });
}

/// The tenant's super namespaces (its root namespace excluded: that holds its control plane),
/// from the namespace index.
fn tenant_namespaces(ctx: &Context, key: &str) -> Vec<Arc<Namespace>> {
    let store = ctx.supers.get::<Namespace>();
    ctx.tenants
        .namespaces
        .of_tenant(key)
        .iter()
        .filter_map(|name| store.get("", name))
        .filter(|ns| {
            owned_by(&ns.metadata, key)
                && ns.metadata.deletion_timestamp.is_none()
                && !route::is_root_namespace(&ns.metadata)
        })
        .collect()
}

/// Brings every served tenant's backstops in line with its limits: applied where missing or
/// different, deleted where the tenant has no limits.
pub async fn ensure(ctx: &Context) {
    if !ctx.quota.backstops.is_synced() || !ctx.supers.get::<Namespace>().is_synced() {
        return;
    }
    for t in ctx.tenants() {
        let text = ctx.quota.hard_text(&t.key);
        let hard = ctx.quota.hard(&t.key);
        for ns in tenant_namespaces(ctx, &t.key) {
            let ns = ns.name_any();
            let existing = ctx.quota.backstops.get(&ns, NAME);
            match (&text, &hard) {
                (Some(text), Some(hard)) => {
                    if existing.as_deref().is_some_and(|e| up_to_date(e, hard))
                        || recently_written(ctx, &ns, hard)
                    {
                        continue;
                    }
                    let rq = desired(&t.key, t.ctx().id.labels(), &ns, text);
                    let api: Api<ResourceQuota> = Api::namespaced(ctx.client.clone(), &ns);
                    let pp = PatchParams::apply(MANAGER).force();
                    match api.patch(NAME, &pp, &Patch::Apply(&rq)).await {
                        Ok(_) => {
                            tracing::debug!(tenant = %t.key, namespace = ns, "backstop ResourceQuota written")
                        }
                        Err(e) => {
                            tracing::warn!(tenant = %t.key, namespace = ns, error = %e, "writing the backstop ResourceQuota failed")
                        }
                    }
                }
                _ => {
                    if existing.is_none() || recently_written(ctx, &ns, &Amounts::new()) {
                        continue;
                    }
                    let api: Api<ResourceQuota> = Api::namespaced(ctx.client.clone(), &ns);
                    match api.delete(NAME, &DeleteParams::default()).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => {
                            tracing::warn!(tenant = %t.key, namespace = ns, error = %e, "removing the backstop ResourceQuota failed")
                        }
                    }
                }
            }
        }
    }
}

/// Whether the same limits were written to `ns` within [`REWRITE_AFTER`]; records this write
/// otherwise.
fn recently_written(ctx: &Context, ns: &str, hard: &Amounts) -> bool {
    let mut writes = ctx
        .quota
        .backstop_writes
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    writes.retain(|_, (_, at)| now.duration_since(*at) < REWRITE_AFTER);
    if writes.get(ns).is_some_and(|(h, _)| h == hard) {
        return true;
    }
    writes.insert(ns.to_string(), (hard.clone(), now));
    false
}

/// The differences between what the backstops' `status.used` add up to and the ledger, for
/// the resources both track; `None` when some backstop has no `status.used` yet (or the super
/// cluster runs no quota controller).
pub fn drift(
    backstops: &[Arc<ResourceQuota>],
    ledger: &Amounts,
) -> Option<Vec<(String, i128, i128)>> {
    let mut sum = Amounts::new();
    let mut tracked = Vec::new();
    for rq in backstops {
        let used = rq.status.as_ref().and_then(|s| s.used.as_ref())?;
        for (k, v) in amounts(Some(used)) {
            *sum.entry(k).or_insert(0) += v;
        }
        for k in rq
            .spec
            .as_ref()
            .and_then(|s| s.hard.as_ref())
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if usage::is_tracked(k) && !tracked.contains(k) {
                tracked.push(k.clone());
            }
        }
    }
    Some(
        tracked
            .into_iter()
            .filter_map(|r| {
                let (a, b) = (
                    sum.get(&r).copied().unwrap_or(0),
                    ledger.get(&r).copied().unwrap_or(0),
                );
                (a != b).then_some((r, a, b))
            })
            .collect(),
    )
}

/// The patrol's check: per tenant with limits, the backstops' usage against the ledger.
/// Differences are logged and counted in `syncer_patrol_repairs_total{resource="resourcequotas",
/// action="usage_drift"}` (the ledger is rebuilt from the super caches on its own; a lasting
/// difference means the super cluster counts something the syncer does not).
pub fn patrol(ctx: &Context) {
    if !ctx.quota.backstops.is_synced() {
        return;
    }
    for t in ctx.tenants() {
        if ctx.quota.hard(&t.key).is_none() {
            continue;
        }
        let namespaces = tenant_namespaces(ctx, &t.key);
        let rqs: Vec<Arc<ResourceQuota>> = namespaces
            .iter()
            .filter_map(|ns| ctx.quota.backstops.get(&ns.name_any(), NAME))
            .collect();
        if rqs.len() != namespaces.len() {
            continue;
        }
        let Some(found) = drift(&rqs, &ctx.quota.used(&t.key)) else {
            continue;
        };
        for (resource, backstops, ledger) in found {
            ctx.metrics
                .patrol_repairs
                .with_label_values(&[&*t.key, "resourcequotas", "usage_drift"])
                .inc();
            tracing::info!(
                tenant = %t.key,
                resource,
                backstops = usage::format(&resource, backstops),
                ledger = usage::format(&resource, ledger),
                "the super cluster's quota usage differs from the syncer's ledger"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ResourceQuotaStatus;

    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.into())
    }

    #[test]
    fn backstops_compare_as_quantities() {
        let hard = BTreeMap::from([("requests.cpu".to_string(), "0.5".to_string())]);
        let mut rq = desired("k", BTreeMap::new(), "k-default", &hard);
        let parsed = usage::parse_hard(&hard).expect("hard");
        assert!(up_to_date(&rq, &parsed));
        if let Some(h) = rq.spec.as_mut().and_then(|s| s.hard.as_mut()) {
            h.insert("requests.cpu".into(), q("500m"));
        }
        assert!(up_to_date(&rq, &parsed));
        assert!(!up_to_date(
            &rq,
            &Amounts::from([("pods".to_string(), 1000)])
        ));
        assert_eq!(rq.metadata.name.as_deref(), Some(NAME));
    }

    #[test]
    fn drift_sums_namespaces_and_needs_status() {
        let hard = BTreeMap::from([
            ("pods".to_string(), "10".to_string()),
            ("secrets".to_string(), "5".to_string()),
        ]);
        let with_used = |pods: &str| {
            let mut rq = desired("k", BTreeMap::new(), "ns", &hard);
            rq.status = Some(ResourceQuotaStatus {
                used: Some(BTreeMap::from([
                    ("pods".to_string(), q(pods)),
                    ("secrets".to_string(), q("3")),
                ])),
                ..ResourceQuotaStatus::default()
            });
            Arc::new(rq)
        };
        let ledger = Amounts::from([("pods".to_string(), 5000)]);
        assert_eq!(
            drift(&[with_used("2"), with_used("3")], &ledger),
            Some(vec![])
        );
        assert_eq!(
            drift(&[with_used("2"), with_used("4")], &ledger),
            Some(vec![("pods".to_string(), 6000, 5000)])
        );
        let no_status = Arc::new(desired("k", BTreeMap::new(), "ns", &hard));
        assert_eq!(drift(&[with_used("2"), no_status], &ledger), None);
    }
}
