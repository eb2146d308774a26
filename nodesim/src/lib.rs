//! nodesim: simulated super-cluster nodes for the embedded API server, in the spirit of Virtual
//! Kubelet and kwok: Node objects that heartbeat, a scheduler that binds pods, and kubelets that
//! run pods through a pluggable [`provider::PodProvider`] and serve the kubelet HTTPS API.

pub mod provider;
pub mod spdy;
pub mod stream;
