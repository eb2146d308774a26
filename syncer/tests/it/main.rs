//! Integration tests of the syncer against embedded API servers.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod e2e;
mod harness;
mod isolation;
mod quota;
