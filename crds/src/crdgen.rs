//! Rendering of the tenancy CRDs to the YAML committed under `config/crd/`.

use kube::CustomResourceExt;

use crate::{ClusterVersion, VirtualCluster};

/// Errors while rendering CRDs.
#[derive(Debug, thiserror::Error)]
pub enum CrdgenError {
    /// The CRD could not be serialized.
    #[error("serializing CRD {name}: {source}")]
    Serialize {
        /// CRD name.
        name: String,
        /// Cause.
        source: serde_yaml::Error,
    },
}

/// Every CRD of the project as `(file name, YAML text)`, in a stable order.
pub fn rendered_crds() -> Result<Vec<(String, String)>, CrdgenError> {
    let crds = [VirtualCluster::crd(), ClusterVersion::crd()];
    crds.iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let yaml = serde_yaml::to_string(crd).map_err(|source| CrdgenError::Serialize {
                name: name.clone(),
                source,
            })?;
            let (plural, group) = name.split_once('.').unwrap_or((name.as_str(), ""));
            Ok((format!("{group}_{plural}.yaml"), yaml))
        })
        .collect()
}
