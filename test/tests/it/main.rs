//! End-to-end suites: real processes and in-process servers over real HTTPS, driven with
//! kube-rs and the machine's kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod aggregator_parity;
mod bench_smoke;
mod cluster_kubectl;
mod csr_parity;
mod flowcontrol_parity;
mod full_chain;
mod layout;
mod rbac_parity;
mod support;
mod upstream;
mod webhook_parity;
