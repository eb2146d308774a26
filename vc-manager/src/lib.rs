//! vc-manager: the VirtualCluster lifecycle. It watches `VirtualCluster` objects, issues each
//! tenant's PKI, provisions its control plane (`native`, `local` or `import`), publishes its
//! admin kubeconfig and reports progress in status, conditions and events.
//!
//! Embedding (as `vcctl up` does): build a [`Config`], then [`start`] with a client of the
//! super cluster and keep the [`ManagerHandle`]; [`run`] is the binary's entry point.
//!
//! What other components rely on (all in the tenant's root namespace = cluster key):
//! - secret `admin-kubeconfig`, key `admin-kubeconfig`: an admin (`system:masters`) kubeconfig
//!   of the tenant API server, published before the VirtualCluster turns `Running`;
//! - secret `root-ca` (`tls.crt`): the tenant CA that signed `kubelet-client`, whose CN is the
//!   cluster key — the certificate the tenant API server presents to kubelets (vn-agent);
//! - `status.clusterNamespace` = the cluster key, set from the first reconcile on;
//! - phase `Running` only while the control plane answers; `Deleting` once deletion started:
//!   the syncer stops syncing then and deletes the tenant's super namespaces (annotation
//!   `tenancy.x-k8s.io/cluster` = cluster key, without `tenancy.x-k8s.io/vcrootns`), while
//!   vc-manager deletes the root namespace itself.

pub mod controller;
pub mod events;
pub mod metrics;
pub mod pki;
pub mod provisioner;
pub mod state;
pub mod validate;

mod manager;

pub use manager::{CONTROLLER_NAME, Config, LeaderElection, ManagerHandle, StartError, run, start};

/// A kube client from kubeconfig text (current context).
pub async fn kube_client_from_kubeconfig(text: &str) -> Result<kube::Client, String> {
    let kc = kube::config::Kubeconfig::from_yaml(text).map_err(|e| e.to_string())?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}
