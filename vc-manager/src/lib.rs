//! vc-manager: the VirtualCluster lifecycle. It watches `VirtualCluster` objects, issues each
//! tenant's PKI, provisions its control plane (`native`, `local` or `import`), publishes its
//! admin kubeconfig and reports progress in status, conditions and events.

pub mod pki;
