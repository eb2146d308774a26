//! Process plumbing shared by every virtualcluster program: process setup and the shutdown
//! signal, the operations endpoint, Lease leader election, TLS helpers, the certificate issuer,
//! kubelet request paths and the kubelet reverse proxy.

pub mod kubelet_path;
pub mod kubelet_proxy;
pub mod leader;
pub mod listen;
pub mod ops;
pub mod pki;
pub mod process;
pub mod tls;
