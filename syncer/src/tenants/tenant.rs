//! One tenant: its client, its caches (one store per synced resource), its settings from the
//! VirtualCluster, and its health.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use crds::VirtualCluster;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use crate::convert::TenantCtx;
use crate::convert::pod::ApiEndpoint;
use crate::queue::Resource as Res;
use crate::stores::Stores;

/// A tenant that cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The admin kubeconfig is unusable.
    #[error("tenant admin kubeconfig: {0}")]
    Kubeconfig(String),
    /// The VirtualCluster cannot be mapped by the contract.
    #[error(transparent)]
    Contract(#[from] crds::tenancy::ContractError),
    /// The client cannot be built.
    #[error("building tenant client: {0}")]
    Client(#[from] kube::Error),
}

/// A tenant served by the syncer.
pub struct Tenant {
    /// Cluster key.
    pub key: Arc<str>,
    ctx: RwLock<Arc<TenantCtx>>,
    /// The VirtualCluster, for events about the tenant.
    pub vc_ref: ObjectReference,
    /// Admin client of the tenant API server.
    pub client: Client,
    /// The tenant API server's CA (PEM), mounted into pods as `ca.crt`.
    pub ca_pem: Vec<u8>,
    /// Hash of the kubeconfig the client was built from (a change restarts the tenant).
    pub kubeconfig_fingerprint: String,
    /// The tenant API server as reachable from super pods.
    pub api_endpoint: RwLock<Option<ApiEndpoint>>,
    /// Caches, one store per synced resource.
    pub caches: Stores,
    healthy: AtomicBool,
    /// Stops the tenant's watches.
    pub cancel: CancellationToken,
    /// When each virtual node was last seen without tenant pods.
    pub vnode_idle_since: Mutex<HashMap<String, Instant>>,
    /// Issued token secrets by (namespace, service account) → when issued and when to refresh. Held while
    /// a token is requested, so concurrent pods of one service account cause one TokenRequest.
    #[allow(clippy::type_complexity)]
    pub tokens: tokio::sync::Mutex<HashMap<(String, String), (Instant, jiff::Timestamp)>>,
    /// Tenant objects whose super copy is an unmanaged object the super cluster created itself
    /// (e.g. every namespace's `default` service account), by (resource, namespace, name).
    pub adopted: Mutex<std::collections::HashSet<(Res, String, String)>>,
    /// The pod patrol's memory: per tenant pod, the (tenant, super) resourceVersions last found
    /// fully in sync; an unchanged pair need not be compared again.
    pub patrol_pods: Mutex<HashMap<(String, String), (String, String)>>,
}

impl Tenant {
    /// Builds a tenant from its VirtualCluster and admin kubeconfig text, with empty `caches`.
    pub async fn new(
        vc: &VirtualCluster,
        kubeconfig_yaml: &str,
        caches: Stores,
    ) -> Result<Self, TenantError> {
        let ctx = TenantCtx::from_vc(vc)?;
        let kubeconfig = Kubeconfig::from_yaml(kubeconfig_yaml)
            .map_err(|e| TenantError::Kubeconfig(e.to_string()))?;
        let ca_pem = ca_from_kubeconfig(&kubeconfig)?;
        let server = kubeconfig
            .clusters
            .first()
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.server.clone())
            .unwrap_or_default();
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| TenantError::Kubeconfig(e.to_string()))?;
        let client = Client::try_from(config)?;
        let vc_ref = ObjectReference {
            api_version: Some(VirtualCluster::api_version(&()).to_string()),
            kind: Some(VirtualCluster::kind(&()).to_string()),
            namespace: vc.namespace(),
            name: Some(vc.name_any()),
            uid: vc.metadata.uid.clone(),
            ..ObjectReference::default()
        };
        Ok(Tenant {
            key: Arc::from(ctx.id.cluster_key.as_str()),
            ctx: RwLock::new(Arc::new(ctx)),
            vc_ref,
            client,
            ca_pem,
            kubeconfig_fingerprint: crds::tenancy::short_hash(kubeconfig_yaml, 16),
            api_endpoint: RwLock::new(endpoint_from_url(&server)),
            caches,
            healthy: AtomicBool::new(false),
            cancel: CancellationToken::new(),
            vnode_idle_since: Mutex::new(HashMap::new()),
            tokens: tokio::sync::Mutex::new(HashMap::new()),
            adopted: Mutex::new(std::collections::HashSet::new()),
            patrol_pods: Mutex::new(HashMap::new()),
        })
    }

    /// The tenant's current settings.
    pub fn ctx(&self) -> Arc<TenantCtx> {
        Arc::clone(&self.ctx.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the settings (VirtualCluster spec changed).
    pub fn set_ctx(&self, ctx: TenantCtx) {
        *self.ctx.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ctx);
        // New rules change what "in sync" means: compare every pod again.
        self.patrol_pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The in-pod address of the tenant API server.
    pub fn api_endpoint(&self) -> Option<ApiEndpoint> {
        self.api_endpoint
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets the in-pod address of the tenant API server.
    pub fn set_api_endpoint(&self, ep: Option<ApiEndpoint>) {
        *self.api_endpoint.write().unwrap_or_else(|e| e.into_inner()) = ep;
    }

    /// Whether the tenant's caches are synced and it answers.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Records the tenant's health; returns the previous value.
    pub fn set_healthy(&self, healthy: bool) -> bool {
        self.healthy.swap(healthy, Ordering::AcqRel)
    }

    /// Whether the super copy of a tenant object was adopted from the super cluster.
    pub fn is_adopted(&self, res: Res, ns: &str, name: &str) -> bool {
        self.adopted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(res, ns.to_string(), name.to_string()))
    }

    /// Records (or forgets) an adopted super copy.
    pub fn set_adopted(&self, res: Res, ns: &str, name: &str, adopted: bool) {
        let mut set = self.adopted.lock().unwrap_or_else(|e| e.into_inner());
        let key = (res, ns.to_string(), name.to_string());
        if adopted {
            set.insert(key);
        } else {
            set.remove(&key);
        }
    }

    /// Whether every cache has loaded its initial list.
    pub fn caches_synced(&self) -> bool {
        self.caches.synced()
    }
}

/// The CA of the first cluster of a kubeconfig, as PEM.
fn ca_from_kubeconfig(kc: &Kubeconfig) -> Result<Vec<u8>, TenantError> {
    let cluster = kc
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| TenantError::Kubeconfig("it names no cluster".into()))?;
    if let Some(data) = &cluster.certificate_authority_data {
        return base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| TenantError::Kubeconfig(format!("certificate-authority-data: {e}")));
    }
    if let Some(path) = &cluster.certificate_authority {
        return std::fs::read(path)
            .map_err(|e| TenantError::Kubeconfig(format!("certificate-authority {path}: {e}")));
    }
    Ok(Vec::new())
}

/// The API endpoint a URL names when its host is an IP literal.
pub fn endpoint_from_url(url: &str) -> Option<ApiEndpoint> {
    let uri: http::Uri = url.parse().ok()?;
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = host.parse().ok()?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    Some(ApiEndpoint {
        ip: ip.to_string(),
        port,
    })
}

/// How long a tenant request may take.
pub async fn timed<T, E>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<Result<T, E>, tokio::time::error::Elapsed> {
    tokio::time::timeout(timeout, fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_only_from_ip_urls() {
        assert_eq!(
            endpoint_from_url("https://10.0.0.5:6443"),
            Some(ApiEndpoint {
                ip: "10.0.0.5".into(),
                port: 6443
            })
        );
        assert_eq!(
            endpoint_from_url("https://[::1]:8443").map(|e| e.ip),
            Some("::1".to_string())
        );
        assert_eq!(endpoint_from_url("https://api.example.com"), None);
        assert_eq!(endpoint_from_url("not a url"), None);
    }
}
