//! Errors of one reconcile.

use crate::provisioner::ProvisionError;

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the super cluster failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The client error.
        source: kube::Error,
    },
    /// A provisioner failed.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The PKI could not be issued.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// The object breaks an assumption of the tenancy contract.
    #[error("{0}")]
    Contract(String),
}

impl Error {
    /// Wraps a kube error with what was being done.
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Error::Kube { action, source }
    }
}
