//! Process plumbing shared by every virtualcluster program: process setup, the operations
//! endpoint, Lease leader election, TLS helpers and the kubelet reverse proxy.

pub mod kubelet_proxy;
pub mod leader;
pub mod ops;
pub mod process;
pub mod tls;
