//! The `import` provisioner: an existing cluster becomes a tenant. Its kubeconfig (secret
//! `importKubeconfigSecret`, key `kubeconfig`, in the VirtualCluster's namespace) is checked by
//! calling `/version` and then published as the tenant's `admin-kubeconfig`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::apply::write_secret;
use super::endpoints::Endpoints;
use super::error::ProvisionError;
use super::tenant::Tenant;
use crate::pki::PkiItem;
use crate::pki::secrets::SecretLayout;
use crate::state::ControlPlane;

/// How long the imported cluster has to answer `/version`.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The import provisioner.
#[derive(Clone)]
pub struct Import {
    client: Client,
    /// The outcome of the last check per cluster key.
    checked: Arc<Mutex<HashMap<String, ControlPlane>>>,
}

/// The imported cluster's address as the kubeconfig says (no certificate is issued for it).
pub fn endpoints(t: &Tenant) -> Option<Endpoints> {
    let text = t.spec.import_kubeconfig.as_deref()?;
    let server = crate::pki::kubeconfig::parse(text)
        .map(|k| k.server)
        .unwrap_or_default();
    Some(Endpoints {
        internal_server: server.clone(),
        server,
        ..Default::default()
    })
}

impl Import {
    /// An import provisioner publishing kubeconfigs through `client` (the super cluster).
    pub fn new(client: Client) -> Self {
        Import {
            client,
            checked: Arc::default(),
        }
    }

    /// Checks the imported cluster and, when it answers, publishes its kubeconfig. Returns
    /// whether the published kubeconfig changed.
    pub async fn apply(&self, t: &Tenant) -> Result<bool, ProvisionError> {
        let text = t.spec.import_kubeconfig.clone().unwrap_or_default();
        let outcome = verify(&text).await;
        let ready = matches!(outcome, ControlPlane::Ready { .. });
        self.checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(t.namespace().to_string(), outcome);
        if !ready {
            return Ok(false);
        }
        let layout = SecretLayout {
            namespace: t.namespace().to_string(),
        };
        let secret = layout.kubeconfig(PkiItem::AdminKubeconfig, &text);
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(self.client.clone(), t.namespace());
        let current = api
            .get_opt(PkiItem::AdminKubeconfig.secret_name())
            .await
            .map_err(ProvisionError::kube("reading the admin kubeconfig"))?;
        if current.and_then(|s| s.data) == secret.data {
            return Ok(false);
        }
        write_secret(&self.client, &secret).await?;
        Ok(true)
    }

    /// The outcome of the last check.
    pub fn observe(&self, t: &Tenant) -> ControlPlane {
        self.checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(t.namespace())
            .cloned()
            .unwrap_or(ControlPlane::Absent)
    }

    /// Forgets a deleted tenant.
    pub fn forget(&self, cluster_key: &str) {
        self.checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(cluster_key);
    }
}

/// Calls `/version` on the cluster a kubeconfig names.
pub async fn verify(kubeconfig: &str) -> ControlPlane {
    let failed = |message: String| ControlPlane::Failed {
        reason: "ImportUnreachable".into(),
        message,
    };
    let kc = match Kubeconfig::from_yaml(kubeconfig) {
        Ok(kc) => kc,
        Err(e) => return failed(format!("the import kubeconfig cannot be read: {e}")),
    };
    let config = match Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await {
        Ok(c) => c,
        Err(e) => return failed(format!("the import kubeconfig cannot be used: {e}")),
    };
    let server = config.cluster_url.to_string();
    let client = match Client::try_from(config) {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot build a client for {server}: {e}")),
    };
    match tokio::time::timeout(VERIFY_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(v)) => ControlPlane::Ready {
            detail: format!(
                "imported cluster {server} answers (version {})",
                v.git_version
            ),
        },
        Ok(Err(e)) => failed(format!(
            "GET {server}/version failed: {e}; check that the cluster is reachable from \
             vc-manager and that the kubeconfig's credentials are valid"
        )),
        Err(_) => failed(format!(
            "GET {server}/version did not answer within {}s; check that the cluster is \
             reachable from vc-manager",
            VERIFY_TIMEOUT.as_secs()
        )),
    }
}
