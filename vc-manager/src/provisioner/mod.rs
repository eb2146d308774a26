//! Provisioners: how a tenant control plane comes to exist.
//!
//! Every provisioner answers the same questions for the controller: where will the control
//! plane be reached ([`Endpoints`]), which PKI items it needs, how to apply it, whether it is
//! ready, and how to stop what it runs outside the root namespace.

pub mod import;
pub mod local;
pub mod native;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use crds::tenancy::TenantId;
use crds::{Provisioner, VirtualCluster};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

use crate::pki::{PkiError, PkiItem, SubjectNames};
use crate::state::ControlPlane;
use crate::validate::ValidSpec;

/// Field manager of every server-side apply by vc-manager.
pub const FIELD_MANAGER: &str = "vc-manager";

/// Errors while provisioning.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A request to the super cluster failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The client error.
        source: kube::Error,
    },
    /// The PKI could not be read or generated.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A local file or process operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ClusterVersion cannot be rendered.
    #[error("rendering the control plane: {0}")]
    Render(String),
    /// The local control plane failed to start.
    #[error("{0}")]
    Local(String),
}

impl ProvisionError {
    /// Wraps a kube error with what was being done.
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| ProvisionError::Kube { action, source }
    }
}

/// A tenant whose spec passed validation.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// The VirtualCluster.
    pub vc: Arc<VirtualCluster>,
    /// Its identity (cluster key = root namespace).
    pub id: TenantId,
    /// The checked spec.
    pub spec: ValidSpec,
}

impl Tenant {
    /// The root namespace.
    pub fn namespace(&self) -> &str {
        &self.id.cluster_key
    }

    /// The VirtualCluster's name.
    pub fn name(&self) -> &str {
        &self.id.vc_name
    }
}

/// Where a control plane is reached, which decides certificate names and kubeconfig servers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Names of the API server serving certificate.
    pub apiserver_names: SubjectNames,
    /// Names of the etcd certificate.
    pub etcd_names: SubjectNames,
    /// URL in the admin kubeconfig.
    pub server: String,
    /// URL in the controller-manager kubeconfig.
    pub internal_server: String,
}

/// Names every tenant API server certificate carries besides its service and addresses: the
/// in-tenant `kubernetes` service forms, its first service IP, and loopback.
pub fn base_apiserver_names(spec: &ValidSpec, extra: &[String]) -> SubjectNames {
    let mut names = SubjectNames::default();
    let domain = &spec.cluster_domain;
    for n in [
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        format!("kubernetes.default.svc.{domain}"),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ] {
        names.add(&n);
    }
    // The tenant's own `kubernetes` service gets the first address of its service range.
    if let Some(first) = spec.service_cidr.hosts().next() {
        names.ips.insert(first);
    }
    for n in extra {
        names.add(n);
    }
    names
}

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

/// Server-side applies `obj` with vc-manager's field manager, taking ownership of conflicts.
pub async fn apply_object<K>(api: &Api<K>, name: &str, obj: &K) -> Result<K, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
}

/// Writes `secret` into its namespace: created, or replaced when its content differs (a
/// secret's type cannot change, so a secret of another type is deleted and recreated).
pub async fn write_secret(client: &Client, secret: &Secret) -> Result<(), ProvisionError> {
    let ns = secret.metadata.namespace.as_deref().unwrap_or_default();
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let err = |verb: &str| ProvisionError::kube(format!("{verb} secret {ns}/{name}"));
    let Some(current) = api.get_opt(name).await.map_err(err("reading"))? else {
        api.create(&PostParams::default(), secret)
            .await
            .map_err(err("creating"))?;
        return Ok(());
    };
    let same_labels = secret
        .metadata
        .labels
        .iter()
        .flatten()
        .all(|(k, v)| current.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v));
    if current.data == secret.data && current.type_ == secret.type_ && same_labels {
        return Ok(());
    }
    if current.type_ != secret.type_ {
        api.delete(name, &DeleteParams::default())
            .await
            .map_err(err("deleting"))?;
        api.create(&PostParams::default(), secret)
            .await
            .map_err(err("creating"))?;
        return Ok(());
    }
    let mut next = secret.clone();
    next.metadata.resource_version = current.metadata.resource_version.clone();
    let mut labels = current.metadata.labels.clone().unwrap_or_default();
    labels.extend(secret.metadata.labels.clone().unwrap_or_default());
    next.metadata.labels = Some(labels);
    next.metadata.annotations = current.metadata.annotations.clone();
    api.replace(name, &PostParams::default(), &next)
        .await
        .map_err(err("replacing"))?;
    Ok(())
}
