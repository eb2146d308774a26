//! The error of node planning and registration.

/// Errors of node registration.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// An API call failed.
    #[error("{what} node {node}: {source}")]
    Api {
        /// What was being done.
        what: &'static str,
        /// Node name.
        node: String,
        /// Cause.
        source: kube::Error,
    },
    /// A pool setting is invalid.
    #[error("pool {pool}: {message}")]
    Config {
        /// Pool.
        pool: String,
        /// What is wrong.
        message: String,
    },
}
