#![allow(clippy::unwrap_used, clippy::expect_used)]
//! vn-agent integration tests.
