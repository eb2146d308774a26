//! VirtualCluster API types (`tenancy.x-k8s.io/v1alpha1`) and the tenancy contract.
//!
//! Every virtualcluster program depends on this crate so that there is exactly one
//! implementation of names, keys and metadata rules.

pub mod clusterversion;
pub mod condition;
pub mod crdgen;
pub mod quantity;
pub mod tenancy;
pub mod virtualcluster;

pub use clusterversion::{ClusterVersion, ClusterVersionSpec, StatefulSetSvcBundle};
pub use condition::ClusterCondition;
pub use virtualcluster::{
    ClusterPhase, Placement, PlacementToleration, PodPolicy, PodSecurityLevel, PodShape,
    Provisioner, ServicePolicy, SyncSpec, TenantQuota, TenantQuotaStatus, VirtualCluster,
    VirtualClusterSpec, VirtualClusterStatus,
};

/// API group of the tenancy CRDs.
pub const GROUP: &str = "tenancy.x-k8s.io";
/// API version of the tenancy CRDs.
pub const VERSION: &str = "v1alpha1";
