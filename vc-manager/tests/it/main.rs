//! vc-manager integration tests against an embedded super cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod failures;
mod harness;
mod local;
