//! Upstream's server-side printers (always "wide": priority-1 cells are included) for the
//! built-in kinds the project serves. Each is registered on its resource definition
//! (`registry/builtin.rs`); a new kind's printer may live in its own file, built from
//! [`common`].

mod autoscaling;
mod cluster;
pub mod common;
mod core;
mod networking;
mod pod;
mod storage;
mod storage_k8s;
#[cfg(test)]
mod tests;
mod workloads;

pub use autoscaling::horizontal_pod_autoscaler;
pub use cluster::{
    cluster_role_binding, pod_disruption_budget, priority_class, role_binding, runtime_class,
};
pub use common::{AGE, Col, Doc, META, NAME, PrintFn, Printer, RowCells};
pub use core::{
    config_map, endpoints, lease, namespace, node, pod_template, resource_quota, secret, service,
    service_account,
};
pub use networking::{endpoint_slice, ingress, ingress_class, network_policy};
pub use pod::pod;
pub use storage::{event, persistent_volume, persistent_volume_claim};
pub use storage_k8s::{csi_driver, csi_node, storage_class, volume_attachment};
pub use workloads::{
    controller_revision, cron_job, daemon_set, deployment, job, replica_set,
    replication_controller, stateful_set,
};
