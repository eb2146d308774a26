//! The error of the issuer: generation, invalid input and random-number failures.

/// Errors of issuing and loading certificates and keys.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Certificate or key generation failed.
    #[error("cannot generate {what}: {source}")]
    Generate {
        /// What was being generated.
        what: String,
        /// The generator's complaint.
        source: rcgen::Error,
    },
    /// A PEM certificate or key (or a requested name) is not usable.
    #[error("{what} is not valid: {reason}")]
    Invalid {
        /// What was being read.
        what: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,
}

/// A [`PkiError::Invalid`] saying why `what` is not usable.
pub(crate) fn invalid(what: &str, reason: &str) -> PkiError {
    PkiError::Invalid {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}
