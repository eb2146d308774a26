//! Integration tests of the embedded API server.
#![allow(clippy::unwrap_used, clippy::expect_used)]
