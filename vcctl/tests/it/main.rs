#![allow(clippy::unwrap_used, clippy::expect_used)]
//! vcctl integration tests: the built `vcctl up` driven with the machine's `kubectl`, the
//! deployable manifests applied with `kubectl apply -k`, and their RBAC checked against the
//! requests the components really make.

mod errors;
mod manifests;
mod rbac;
mod readme;
mod support;
mod up;
