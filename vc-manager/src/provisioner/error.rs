//! What can go wrong while provisioning a control plane.

use crate::pki::PkiError;

/// Errors while provisioning.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A request to the super cluster failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The client error.
        source: kube::Error,
    },
    /// The PKI could not be read or generated.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A local file or process operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ClusterVersion cannot be rendered.
    #[error("rendering the control plane: {0}")]
    Render(String),
    /// The local control plane failed to start.
    #[error("{0}")]
    Local(String),
}

impl ProvisionError {
    /// Wraps a kube error with what was being done.
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| ProvisionError::Kube { action, source }
    }
}
