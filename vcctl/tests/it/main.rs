#![allow(clippy::unwrap_used, clippy::expect_used)]
//! vcctl integration tests.
