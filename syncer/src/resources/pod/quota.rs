//! Pods and the tenant quota: what a super pod uses (kept through the cache's pruning) and how
//! a pod held back by the quota is shown in its tenant.

use k8s_openapi::api::core::v1::{Container, Pod};
use kube::ResourceExt;

use super::write::mark_unschedulable;
use crate::context::Context;
use crate::queue::WorkKey;
use crate::quota::{Amounts, REASON_EXCEEDED, usage};
use crate::reconcile::SyncError;
use crate::recorder;
use crate::tenants::tenant::Tenant;

/// What a super pod uses; a pod whose quantities cannot be read still counts as a pod.
pub fn super_pod_usage(p: &Pod) -> Amounts {
    usage::pod(p).unwrap_or_else(|e| {
        tracing::debug!(pod = %p.name_any(), error = %e, "super pod with an unreadable quantity");
        let mut a = Amounts::from([("count/pods".to_string(), usage::ONE)]);
        if !usage::is_terminal(p) {
            a.insert("pods".into(), usage::ONE);
        }
        a
    })
}

/// Keeps what the syncer needs of a super pod (see [`crate::convert::pod::prune_super`]) plus
/// what its quota usage is computed from: container resources and the pod's overhead and
/// pod-level resources.
pub fn prune_super_pod(pod: &mut Pod) {
    let spec = pod.spec.as_ref();
    let resources = |cs: Option<&Vec<Container>>| -> Vec<_> {
        cs.into_iter()
            .flatten()
            .map(|c| (c.resources.clone(), c.restart_policy.clone()))
            .collect()
    };
    let containers = resources(spec.map(|s| &s.containers));
    let init = resources(spec.and_then(|s| s.init_containers.as_ref()));
    let overhead = spec.and_then(|s| s.overhead.clone());
    let pod_level = spec.and_then(|s| s.resources.clone());
    crate::convert::pod::prune_super(pod);
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    let restore = |cs: &mut [Container], kept: Vec<_>| {
        for (c, (r, policy)) in cs.iter_mut().zip(kept) {
            c.resources = r;
            c.restart_policy = policy;
        }
    };
    restore(&mut spec.containers, containers);
    if let Some(cs) = spec.init_containers.as_mut() {
        restore(cs, init);
    }
    spec.overhead = overhead;
    spec.resources = pod_level;
}

/// Marks a held-back pod `PodScheduled=False`/`TenantQuotaExceeded` and records the Warning
/// event, once: a pod already marked keeps its first message (rewriting it on every retry
/// would make every waiting pod churn while the line moves).
pub async fn hold(
    ctx: &Context,
    tenant: &Tenant,
    key: &WorkKey,
    v: &Pod,
    message: &str,
) -> Result<(), SyncError> {
    let marked = v
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some(REASON_EXCEEDED)
        });
    if marked {
        return Ok(());
    }
    // Both writes go to the tenant at once: a burst parks thousands of pods.
    let (marked, ()) = futures::join!(
        mark_unschedulable(ctx, tenant, v, REASON_EXCEEDED, message),
        recorder::warn_tenant(
            ctx,
            &key.tenant,
            recorder::object_ref(v),
            REASON_EXCEEDED,
            message
        ),
    );
    marked
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    use super::*;

    #[test]
    fn pruned_super_pods_keep_what_usage_needs() {
        let mut p = Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: Some("nginx".into()),
                    resources: Some(ResourceRequirements {
                        requests: Some(BTreeMap::from([(
                            "cpu".to_string(),
                            Quantity("250m".into()),
                        )])),
                        ..ResourceRequirements::default()
                    }),
                    env: Some(vec![]),
                    ..Container::default()
                }],
                overhead: Some(BTreeMap::from([(
                    "cpu".to_string(),
                    Quantity("10m".into()),
                )])),
                hostname: Some("h".into()),
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        let before = usage::pod(&p).expect("usage");
        prune_super_pod(&mut p);
        assert_eq!(usage::pod(&p).expect("usage"), before);
        let spec = p.spec.as_ref().expect("spec");
        assert_eq!(spec.hostname, None);
        assert_eq!(spec.containers[0].env, None);
        assert_eq!(before["requests.cpu"], 260);
    }
}
