//! Upstream's server-side printers (always "wide": priority-1 cells are included) for the
//! built-in kinds the project serves. Each is registered on its resource definition
//! (`registry/builtin.rs`); a new kind's printer may live in its own file, built from
//! [`common`].

pub mod common;
mod core;
mod pod;
mod storage;
mod workloads;

pub use common::{AGE, Col, Doc, META, NAME, PrintFn, Printer, RowCells};
pub use core::{config_map, endpoints, lease, namespace, node, secret, service, service_account};
pub use pod::pod;
pub use storage::{event, persistent_volume, persistent_volume_claim};
pub use workloads::{cron_job, daemon_set, deployment, job, replica_set, stateful_set};
