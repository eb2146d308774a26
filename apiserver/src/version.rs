//! The Kubernetes version whose API is served.

/// The Kubernetes version whose API is served (k8s-openapi's `v1_33`).
pub const KUBE_VERSION: &str = "v1.33.0+vc";
