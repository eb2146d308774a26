//! vc-manager integration tests against an embedded super cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binaries;
mod delete;
mod failures;
mod harness;
mod import;
mod local;
mod native;
mod ops;
mod renewal;
