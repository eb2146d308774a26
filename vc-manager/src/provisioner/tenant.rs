//! The tenant a provisioner works on: a VirtualCluster whose spec passed validation.

use std::sync::Arc;

use crds::VirtualCluster;
use crds::tenancy::TenantId;

use crate::validate::ValidSpec;

/// A tenant whose spec passed validation.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// The VirtualCluster.
    pub vc: Arc<VirtualCluster>,
    /// Its identity (cluster key = root namespace).
    pub id: TenantId,
    /// The checked spec.
    pub spec: ValidSpec,
}

impl Tenant {
    /// The root namespace.
    pub fn namespace(&self) -> &str {
        &self.id.cluster_key
    }

    /// The VirtualCluster's name.
    pub fn name(&self) -> &str {
        &self.id.vc_name
    }
}
