#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Integration tests of the common crate.

mod kubelet_proxy;
mod leader;
mod ops;
mod support;
