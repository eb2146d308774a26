//! Errors of server-side apply and the `Status` upstream answers them with.

use crate::error::{StatusCause, StatusInfo};

/// Errors of apply and managed-fields bookkeeping.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (409).
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<Conflict>),
    /// `metadata.managedFields` cannot be decoded.
    #[error("failed to decode managed fields: {0}")]
    BadManagedFields(String),
    /// The apply configuration is not an object.
    #[error("{0}")]
    InvalidConfig(String),
}

impl ApplyError {
    /// The status upstream answers with.
    pub fn status(&self) -> StatusInfo {
        match self {
            ApplyError::Conflict(conflicts) => StatusInfo {
                code: 409,
                reason: "Conflict",
                message: self.to_string(),
                causes: conflicts
                    .iter()
                    .map(|c| StatusCause {
                        reason: "FieldManagerConflict",
                        message: format!("conflict with {}", c.manager),
                        field: c.field.clone(),
                    })
                    .collect(),
            },
            ApplyError::BadManagedFields(_) | ApplyError::InvalidConfig(_) => StatusInfo {
                code: 400,
                reason: "BadRequest",
                message: self.to_string(),
                causes: Vec::new(),
            },
        }
    }
}

/// One conflicting field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The manager as upstream prints it (`"kubectl-client-side-apply" using apps/v1`).
    pub manager: String,
    /// The field (`.spec.replicas`).
    pub field: String,
}

pub(super) fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager, only.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflicts with {manager}:"));
        for c in conflicts.iter().filter(|c| c.manager == manager) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}
