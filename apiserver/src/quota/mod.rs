//! Resource quotas as upstream enforces them: evaluators of what objects use (`usage`,
//! `pod_usage`), scopes, admission that checks and charges a write against its namespace's
//! quotas, and the measurement the quota controller writes to `status`.

pub mod admission;
pub mod amount;
pub mod charging;
pub mod measure;
pub mod pod_usage;
pub mod scopes;
pub mod usage;

pub use admission::{admit, refund};
