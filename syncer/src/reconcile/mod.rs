//! Reconciling: level-based, one work key at a time. Each reconcile reads the tenant object and
//! its super copy from the caches, computes what should be, and writes only the difference, with
//! uid preconditions on updates and deletes. Here: what a reconcile returns and how it calls the
//! API servers; [`down`] and [`up`] hold the generic reconcilers the resource modules use,
//! [`worker`] takes items from the queues and dispatches them through the resource table.

pub mod down;
pub mod lean;
pub mod up;
pub mod worker;

use std::future::Future;
use std::time::Duration;

use crate::context::Context;
use crate::convert::ConvertError;
use crate::queue::Outcome;

/// Why a work item did not sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The tenant object cannot be synced as it is.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// An API call failed.
    #[error("{}", api_error_message(.0))]
    Kube(#[from] kube::Error),
    /// An API call took too long.
    #[error("request to the {0} API server timed out")]
    Timeout(&'static str),
    /// The super object exists but belongs to someone else.
    #[error("{0}")]
    Conflict(String),
    /// Something has to happen first (e.g. a stale copy is being deleted); retry soon.
    #[error("{0}")]
    Waiting(String),
}

impl SyncError {
    /// What the queue should do with the item.
    pub fn outcome(&self) -> Outcome {
        match self {
            SyncError::Convert(e) if e.is_permanent() => Outcome::GiveUp,
            SyncError::Conflict(_) => Outcome::GiveUp,
            SyncError::Kube(kube::Error::Api(s)) if s.code == 400 || s.code == 422 => {
                Outcome::GiveUp
            }
            _ => Outcome::Retry,
        }
    }

    /// The reason of the Warning event this error deserves on the tenant object.
    pub fn reason(&self) -> &'static str {
        match self {
            SyncError::Convert(e) => e.reason(),
            SyncError::Conflict(_) => "NotSupported",
            _ => "SyncFailed",
        }
    }

    /// The rule a refusal counts under in `syncer_policy_refusals_total`; `None` for errors
    /// that are not refusals of the object.
    pub fn refusal_rule(&self) -> Option<&'static str> {
        match self {
            SyncError::Convert(e) => e.refusal_rule(),
            SyncError::Conflict(_) => Some("nameConflict"),
            _ => None,
        }
    }

    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Convert(ConvertError::NotReady(_)) | SyncError::Waiting(_) => "waiting",
            SyncError::Convert(_) => "rejected",
            SyncError::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            SyncError::Kube(_) => "api_error",
            SyncError::Timeout(_) => "timeout",
            SyncError::Conflict(_) => "conflict",
        }
    }
}

/// A failed API call in words a tenant reads in an event: the server's own message and
/// reason for API errors (not a debug dump of the Status), the error otherwise.
pub fn api_error_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => {
            format!("{} ({}, HTTP {})", s.message, s.reason, s.code)
        }
        other => other.to_string(),
    }
}

/// What a successful reconcile did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synced {
    /// Created an object.
    Created,
    /// Updated an object.
    Updated,
    /// Deleted an object.
    Deleted,
    /// Nothing to do.
    Unchanged,
}

impl Synced {
    /// Label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Synced::Created => "created",
            Synced::Updated => "updated",
            Synced::Deleted => "deleted",
            Synced::Unchanged => "unchanged",
        }
    }
}

/// Result of one reconcile.
pub type SyncResult = Result<Synced, SyncError>;

const SUPER_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a tenant API call under the tenant timeout.
pub async fn tenant_call<T>(
    ctx: &Context,
    fut: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, SyncError> {
    match tokio::time::timeout(ctx.config.tenant_timeout(), fut).await {
        Ok(r) => r.map_err(SyncError::Kube),
        Err(_) => Err(SyncError::Timeout("tenant")),
    }
}

/// Runs a super API call under the super timeout.
pub async fn super_call<T>(
    fut: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, SyncError> {
    match tokio::time::timeout(SUPER_TIMEOUT, fut).await {
        Ok(r) => r.map_err(SyncError::Kube),
        Err(_) => Err(SyncError::Timeout("super")),
    }
}

/// Whether an error is a 404.
pub fn is_not_found(e: &SyncError) -> bool {
    matches!(e, SyncError::Kube(kube::Error::Api(s)) if s.code == 404)
}

/// Whether an error is a 409.
pub fn is_conflict(e: &SyncError) -> bool {
    matches!(e, SyncError::Kube(kube::Error::Api(s)) if s.code == 409)
}
