//! The virtualcluster syncer: downward (tenant → super) and upward (super → tenant) sync for
//! every tenant of one super cluster, through fair per-tenant queues.

pub mod cache;
pub mod config;
pub mod context;
pub mod convert;
pub mod metrics;
pub mod patrol;
pub mod patroller;
pub mod queue;
pub mod quota;
pub mod reconcile;
pub mod recorder;
pub mod registry;
pub mod run;
pub mod tenant;
pub mod vnode;

pub use config::SyncerConfig;
pub use run::{SyncerHandle, run, start};
