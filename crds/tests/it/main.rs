//! Checks on the committed CRD manifests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod crd_manifests;
