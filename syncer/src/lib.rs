//! The virtualcluster syncer: downward (tenant → super) and upward (super → tenant) sync for
//! every tenant of one super cluster, through fair per-tenant queues. Each synced kind lives in
//! one module under [`resources`], listed in [`resources::ALL`].

pub mod cache;
pub mod config;
pub mod context;
pub mod convert;
pub mod metrics;
pub mod patrol;
pub mod queue;
pub mod quota;
pub mod reconcile;
pub mod recorder;
pub mod resources;
pub mod route;
pub mod run;
pub mod stores;
pub mod tenants;
pub mod watch;

pub use config::SyncerConfig;
pub use run::{SyncerHandle, run, start};
