//! nodesim against the embedded API server: scheduling, pod lifecycle, heartbeats, and the
//! kubelet API driven by kube-rs (WebSocket) and the crate's SPDY client.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli;
mod harness;
mod kubectl;
mod kubelet_api;
mod lifecycle;
mod scheduling;
