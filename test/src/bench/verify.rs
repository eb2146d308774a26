//! Convergence check: every tenant pod of a run has exactly one super copy recording its uid,
//! and no super pod of the run lacks a tenant pod.

use std::collections::BTreeMap;

use anyhow::Context;
use crds::tenancy::ANNOTATION_UID;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::core::PartialObjectMeta;
use kube::{Api, Client};

use super::cluster::{BENCH_NS, Tenant};
use super::tracker::RUN_LABEL;

/// What the comparison found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Convergence {
    /// Tenant pods of the run.
    pub tenant_pods: usize,
    /// Super pods of the run in the tenants' namespaces.
    pub super_pods: usize,
    /// Tenant pods without a super copy.
    pub missing: usize,
    /// Super pods without a tenant pod (or recording another uid).
    pub orphans: usize,
}

impl Convergence {
    /// Nothing missing, nothing orphaned.
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.orphans == 0 && self.tenant_pods == self.super_pods
    }

    /// Both counts added up.
    pub fn plus(self, c: Convergence) -> Convergence {
        Convergence {
            tenant_pods: self.tenant_pods + c.tenant_pods,
            super_pods: self.super_pods + c.super_pods,
            missing: self.missing + c.missing,
            orphans: self.orphans + c.orphans,
        }
    }
}

fn uids(list: Vec<PartialObjectMeta<Pod>>, annotation: Option<&str>) -> BTreeMap<String, String> {
    list.into_iter()
        .map(|p| {
            let m = p.metadata;
            let uid = match annotation {
                Some(a) => m.annotations.and_then(|mut x| x.remove(a)),
                None => m.uid,
            };
            (m.name.unwrap_or_default(), uid.unwrap_or_default())
        })
        .collect()
}

/// Compares one tenant's pods of `run` with their super copies.
async fn tenant(super_client: &Client, t: &Tenant, run: &str) -> anyhow::Result<Convergence> {
    let lp = ListParams::default().labels(&format!("{RUN_LABEL}={run}"));
    let v = Api::<Pod>::namespaced(t.client.clone(), BENCH_NS)
        .list_metadata(&lp)
        .await
        .with_context(|| format!("listing the pods of tenant {}", t.name))?;
    let p = Api::<Pod>::namespaced(super_client.clone(), &t.super_ns)
        .list_metadata(&lp)
        .await
        .with_context(|| format!("listing the super pods of tenant {}", t.name))?;
    let v = uids(v.items, None);
    let p = uids(p.items, Some(ANNOTATION_UID));
    Ok(Convergence {
        tenant_pods: v.len(),
        super_pods: p.len(),
        missing: v.keys().filter(|k| !p.contains_key(*k)).count(),
        orphans: p.iter().filter(|(k, uid)| v.get(*k) != Some(uid)).count(),
    })
}

/// Compares every tenant's pods of `run` with the super cluster.
pub async fn check(
    super_client: &Client,
    tenants: &[Tenant],
    run: &str,
) -> anyhow::Result<Convergence> {
    let parts: Vec<Convergence> = futures::stream::iter(tenants)
        .map(|t| tenant(super_client, t, run))
        .buffer_unordered(8)
        .try_collect()
        .await?;
    Ok(parts
        .into_iter()
        .fold(Convergence::default(), Convergence::plus))
}

/// [`check`] over several runs, added up.
pub async fn check_runs(
    super_client: &Client,
    tenants: &[Tenant],
    runs: &[String],
) -> anyhow::Result<Convergence> {
    let mut total = Convergence::default();
    for run in runs {
        total = total.plus(check(super_client, tenants, run).await?);
    }
    Ok(total)
}
