//! The errors of the tenancy contract.

/// Inputs the contract cannot map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// A name that is not valid where it is used.
    #[error("{what} {value:?} is not a valid DNS-1123 name")]
    InvalidName {
        /// What the name names.
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// A required field is empty.
    #[error("{0} is not set")]
    MissingField(&'static str),
}
