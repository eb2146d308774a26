//! Integration tests of the embedded API server over real HTTPS, with kube-rs and kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod autoscaling;
mod certificates;
mod components;
mod controllers;
mod crd;
mod crd_behaviour;
mod crud;
mod disruption;
mod endpoints;
mod errors;
mod flowcontrol;
mod harness;
mod hostile;
mod job_events;
mod kubectl;
mod lifecycle;
mod patching;
mod persistence;
mod printers;
mod quota;
mod rbac;
mod service_accounts;
mod watch;
mod wire;
mod workloads;
