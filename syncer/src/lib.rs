//! The virtualcluster syncer: downward (tenant → super) and upward (super → tenant) sync for
//! every tenant of one super cluster, through fair per-tenant queues.

pub mod convert;
pub mod metrics;
pub mod queue;
