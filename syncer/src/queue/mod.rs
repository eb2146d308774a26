//! Fair work queues: per-tenant sub-queues of deduplicated keys, weighted round robin, per-tenant
//! token buckets, exponential backoff; one queue for downward and one for upward work.

pub mod backoff;
pub mod fair;
pub mod key;
pub mod shared;

pub use backoff::Backoff;
pub use fair::{FairQueue, Finished, Limiter, Outcome, Pop, Popped, TenantSettings, limiter};
pub use key::{Direction, Resource, WorkKey};
pub use shared::WorkQueue;
