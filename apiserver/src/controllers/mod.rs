//! In-process control loops (upstream kube-controller-manager's and the API server's own), so
//! that a lone embedded server behaves like a cluster: namespace lifecycle, service accounts,
//! garbage collection, deployments → replicasets → pods, statefulsets, endpoints, CRD cleanup.
//!
//! Each loop is level-based: writes anywhere wake it through `Api::changes`, it reconciles the
//! affected keys from a deduplicated queue, and it resyncs everything periodically.

pub mod apiservices;
pub mod clusterrole_aggregation;
pub mod crd_cleanup;
pub mod cronjob;
pub mod csr_signing;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod event_correlator;
pub mod events;
pub mod flowcontrol;
pub mod gc;
pub mod hpa;
pub mod job;
pub mod liveness;
pub mod namespace;
pub mod node_taints;
pub mod replicaset;
pub mod resourcequota;
mod runtime;
pub mod serviceaccount;
pub mod statefulset;
pub mod template;

use std::sync::Arc;

use crate::api::Api;

pub use runtime::{
    Controller, Key, Requeue, delete_gone_ok, keys_in, keys_of, owner_keys, spawn, write_status,
};

/// Every controller name, as `--controllers` accepts them.
pub const ALL: &[&str] = &[
    "namespace",
    "serviceaccount",
    "serviceaccount-token",
    "garbagecollector",
    "deployment",
    "replicaset",
    "replicationcontroller",
    "resourcequota",
    "statefulset",
    "daemonset",
    "job",
    "cronjob",
    "endpoint",
    "endpointslice",
    "crd-cleanup",
    "csrsigning",
    "node-taints",
    "clusterrole-aggregation",
    "disruption",
    "horizontalpodautoscaling",
    "apiservice-registration",
    "priority-and-fairness",
];

/// Whether `name` is enabled by an upstream-style selection (`*`, `name`, `-name`).
pub fn enabled(selection: &[String], name: &str) -> bool {
    let mut on = false;
    for s in selection {
        let s = s.trim();
        if s == "*" || s == name {
            on = true;
        } else if s.strip_prefix('-') == Some(name) {
            return false;
        }
    }
    on
}

/// Starts the selected control loops; `signing_ca` signs approved certificate requests of the
/// built-in signers (none: `csrsigning` does not run).
pub fn start(
    api: Arc<Api>,
    selection: &[String],
    signing_ca: Option<Arc<common::pki::Ca>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut out = Vec::new();
    let on = |n: &str| enabled(selection, n);
    if on("namespace") {
        out.push(spawn(api.clone(), namespace::NamespaceController));
    }
    if on("serviceaccount") {
        out.push(spawn(api.clone(), serviceaccount::ServiceAccountController));
    }
    if on("serviceaccount-token") {
        out.push(spawn(api.clone(), serviceaccount::TokenSecretController));
    }
    if on("garbagecollector") {
        out.push(spawn(api.clone(), gc::GarbageCollector::default()));
    }
    if on("deployment") {
        out.push(spawn(api.clone(), deployment::DeploymentController));
    }
    if on("replicaset") {
        out.push(spawn(
            api.clone(),
            replicaset::ReplicaSetController::REPLICA_SETS,
        ));
    }
    if on("replicationcontroller") {
        out.push(spawn(
            api.clone(),
            replicaset::ReplicaSetController::REPLICATION_CONTROLLERS,
        ));
    }
    if on("resourcequota") {
        out.push(spawn(api.clone(), resourcequota::ResourceQuotaController));
    }
    if on("statefulset") {
        out.push(spawn(api.clone(), statefulset::StatefulSetController));
    }
    if on("daemonset") {
        out.push(spawn(
            api.clone(),
            daemonset::DaemonSetController::default(),
        ));
    }
    if on("job") {
        out.push(spawn(api.clone(), job::JobController));
    }
    if on("cronjob") {
        out.push(spawn(api.clone(), cronjob::CronJobController));
    }
    if on("endpoint") {
        out.push(spawn(api.clone(), endpoints::EndpointsController));
    }
    if on("endpointslice") {
        out.push(spawn(api.clone(), endpoints::EndpointSliceController));
    }
    if on("crd-cleanup") {
        out.push(spawn(api.clone(), crd_cleanup::CrdCleanup));
    }
    if on("node-taints") {
        out.push(spawn(api.clone(), node_taints::NodeTaints));
    }
    if let Some(ca) = signing_ca.filter(|_| on("csrsigning")) {
        let signer = csr_signing::CsrSigner::new(ca, csr_signing::DEFAULT_SIGNING_DURATION);
        out.push(spawn(api.clone(), signer));
    }
    if on("clusterrole-aggregation") {
        out.push(spawn(
            api.clone(),
            clusterrole_aggregation::ClusterRoleAggregation,
        ));
    }
    if on("disruption") {
        out.push(spawn(api.clone(), disruption::DisruptionController));
    }
    if on("priority-and-fairness") {
        out.push(spawn(api.clone(), flowcontrol::FlowControl));
    }
    if on("apiservice-registration") {
        out.push(spawn(api.clone(), apiservices::ApiServices));
    }
    if on("horizontalpodautoscaling") {
        out.push(spawn(api.clone(), hpa::HpaController));
    }
    out
}

pub use crate::meta::controller_of;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection() {
        let sel = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(enabled(&sel(&["*"]), "deployment"));
        assert!(!enabled(&sel(&["*", "-deployment"]), "deployment"));
        assert!(enabled(&sel(&["namespace"]), "namespace"));
        assert!(!enabled(&sel(&["namespace"]), "deployment"));
    }
}
