//! Provisioners: how a tenant control plane comes to exist.
//!
//! Every provisioner answers the same questions for the controller: where will the control
//! plane be reached ([`Endpoints`]), which PKI items it needs, how to apply it, whether it is
//! ready, and how to stop what it runs outside the root namespace.

mod apply;
mod endpoints;
mod error;
pub mod import;
pub mod local;
pub mod native;
mod tenant;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crds::Provisioner;
use k8s_openapi::api::core::v1::Secret;

pub use apply::{FIELD_MANAGER, apply_object, write_secret};
pub use endpoints::{Endpoints, base_apiserver_names};
pub use error::ProvisionError;
pub use tenant::Tenant;

use crate::pki::PkiItem;
use crate::state::ControlPlane;

/// The set of provisioners a vc-manager runs.
#[derive(Clone)]
pub struct Provisioners {
    /// StatefulSets in the super cluster.
    pub native: native::Native,
    /// Existing clusters.
    pub import: import::Import,
    /// Control planes next to vc-manager (absent when not enabled).
    pub local: Option<local::Local>,
    /// Extra names for every API server certificate (`--apiserver-extra-sans`).
    pub extra_sans: Vec<String>,
    /// Provisioners the operator enabled (`--provisioners`).
    pub enabled: HashSet<Provisioner>,
}

impl Provisioners {
    /// The provisioners this set runs: enabled, and available (local needs its runtime).
    pub fn enabled(&self) -> HashSet<Provisioner> {
        self.enabled
            .iter()
            .copied()
            .filter(|p| *p != Provisioner::Local || self.local.is_some())
            .collect()
    }

    fn local(&self) -> Result<&local::Local, ProvisionError> {
        self.local
            .as_ref()
            .ok_or_else(|| ProvisionError::Local("the local provisioner is not enabled".into()))
    }

    /// The PKI items the tenant's provisioner needs.
    pub fn pki_items(&self, t: &Tenant) -> BTreeSet<PkiItem> {
        match t.spec.provisioner {
            // The imported cluster has its own PKI; vn-agent still needs the tenant CA and the
            // kubelet-client identity (configure the imported API server with it).
            Provisioner::Import => BTreeSet::from([PkiItem::RootCa, PkiItem::KubeletClient]),
            Provisioner::Native | Provisioner::Local => PkiItem::ALL.into_iter().collect(),
        }
    }

    /// Where the control plane is reached; `None` until [`Provisioners::prepare`] ran.
    pub async fn endpoints(&self, t: &Tenant) -> Result<Option<Endpoints>, ProvisionError> {
        match t.spec.provisioner {
            Provisioner::Native => self.native.endpoints(t, &self.extra_sans).await,
            Provisioner::Import => Ok(import::endpoints(t)),
            Provisioner::Local => Ok(self.local()?.endpoints(t, &self.extra_sans)),
        }
    }

    /// Fixes the control plane's addresses (native: applies the Services).
    pub async fn prepare(&self, t: &Tenant) -> Result<(), ProvisionError> {
        match t.spec.provisioner {
            Provisioner::Native => self.native.prepare(t).await,
            Provisioner::Import => Ok(()),
            Provisioner::Local => self.local()?.prepare(t),
        }
    }

    /// Applies or starts the control plane with the PKI in `secrets`. Returns whether anything
    /// changed.
    pub async fn apply(
        &self,
        t: &Tenant,
        secrets: &BTreeMap<String, Secret>,
    ) -> Result<bool, ProvisionError> {
        match t.spec.provisioner {
            Provisioner::Native => self.native.apply(t, secrets).await,
            Provisioner::Import => self.import.apply(t).await,
            Provisioner::Local => self.local()?.apply(t, secrets).await,
        }
    }

    /// The control plane's state.
    pub async fn observe(&self, t: &Tenant) -> Result<ControlPlane, ProvisionError> {
        match t.spec.provisioner {
            Provisioner::Native => self.native.observe(t).await,
            Provisioner::Import => Ok(self.import.observe(t)),
            Provisioner::Local => Ok(self.local()?.observe(t).await),
        }
    }

    /// Stops whatever runs outside the root namespace for `cluster_key`. Returns whether
    /// everything is gone.
    pub async fn teardown(&self, cluster_key: &str) -> Result<bool, ProvisionError> {
        self.import.forget(cluster_key);
        match &self.local {
            Some(local) => local.teardown(cluster_key).await,
            None => Ok(true),
        }
    }

    /// Whether nothing runs outside the root namespace for `cluster_key`.
    pub fn torn_down(&self, cluster_key: &str) -> bool {
        self.local
            .as_ref()
            .is_none_or(|l| !l.is_running(cluster_key) && !l.has_state(cluster_key))
    }
}
