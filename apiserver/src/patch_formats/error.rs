//! Patch errors and the `Status` upstream answers them with.

use crate::error::{StatusCause, StatusInfo};

/// Errors applying a patch.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch body is not the JSON document the patch type needs.
    #[error("{0}")]
    BadRequest(String),
    /// Malformed strategic-merge directive (`$retainKeys`, `$setElementOrder`, ...).
    #[error("{0}")]
    BadDirective(&'static str),
    /// Upstream answers these with 422 (lists of lists, retainKeys mismatch).
    #[error("{0}")]
    Unprocessable(String),
    /// A JSON patch operation could not be applied (failed `test`, missing path...).
    #[error("{0}")]
    JsonPatchFailed(String),
    /// More JSON patch operations than upstream accepts.
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations {
        /// The limit.
        max: usize,
        /// Operations in the request.
        got: usize,
    },
    /// A patch that upstream cannot apply and answers with a 500 (e.g. a list item without
    /// its declared merge key).
    #[error("{0}")]
    Internal(String),
}

impl PatchError {
    /// The status upstream answers with for this error.
    pub fn status(&self) -> StatusInfo {
        let simple = |code, reason, message: String| StatusInfo {
            code,
            reason,
            message,
            causes: Vec::new(),
        };
        match self {
            PatchError::BadRequest(m) => simple(400, "BadRequest", m.clone()),
            PatchError::BadDirective(m) => simple(400, "BadRequest", (*m).to_owned()),
            PatchError::Unprocessable(m) | PatchError::JsonPatchFailed(m) => {
                // Upstream's NewGenericServerResponse(422): a fixed message, the detail in a
                // cause.
                StatusInfo {
                    code: 422,
                    reason: "Invalid",
                    message: "the server rejected our request due to an error in our request"
                        .to_owned(),
                    causes: vec![StatusCause {
                        reason: "UnexpectedServerResponse",
                        message: m.clone(),
                        field: String::new(),
                    }],
                }
            }
            PatchError::TooManyOperations { .. } => {
                simple(413, "RequestEntityTooLarge", self.to_string())
            }
            PatchError::Internal(m) => simple(500, "InternalError", m.clone()),
        }
    }
}
