//! Informer-style caches: a watch keeps a store of (pruned) objects by namespace and name, and
//! tells a handler what changed so work can be queued.

pub mod packed;
pub mod spec;
pub mod store;
pub mod trim;
pub mod watch;

pub use spec::{Change, Lane, WatchSpec, Watched};
pub use store::Store;
pub use watch::run_watch;
