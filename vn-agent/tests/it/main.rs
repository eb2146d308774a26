#![allow(clippy::unwrap_used, clippy::expect_used)]
//! vn-agent integration tests.

mod happy;
mod kube_super;
mod kubectl;
mod local_mode;
mod manifests;
mod security;
mod support;
