//! The server's shared state.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::ipalloc::ServiceAllocator;
use crate::metrics::Metrics;
use crate::registry::{Registry, ResourceDef};
use crate::store::Store;
use crate::tokens::TokenSigner;

/// Settings that handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `host:port` clients reach the server at.
    pub advertise: String,
    /// The CA clients use to verify this server (published as `kube-root-ca.crt`).
    pub root_ca_pem: String,
}

/// Everything a request handler or control loop needs.
pub struct Api {
    /// Objects.
    pub store: Arc<Store>,
    /// Served resources.
    pub registry: Registry,
    /// Authentication.
    pub auth: Authenticator,
    /// Settings.
    pub settings: Settings,
    /// Service-account token signer.
    pub tokens: Option<Arc<TokenSigner>>,
    /// Metrics.
    pub metrics: Metrics,
    /// Forwarder to kubelets (logs, exec, attach, port-forward).
    pub kubelet: Option<common::kubelet_proxy::KubeletProxy>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    allocator: Mutex<ServiceAllocator>,
    /// OpenAPI documents for a registry generation, built on first request.
    pub openapi: Mutex<Option<(u64, Arc<crate::openapi::OpenApi>)>>,
    /// Woken after every write, for the in-process control loops.
    pub changes: tokio::sync::broadcast::Sender<Change>,
}

/// A write, as control loops see it.
#[derive(Debug, Clone)]
pub struct Change {
    /// Storage key of the resource.
    pub storage: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Uid of the object.
    pub uid: String,
    /// Kind and name of the object's controller (owner with `controller: true`).
    pub controller: Option<(String, String)>,
    /// Whether the object is gone.
    pub deleted: bool,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("advertise", &self.settings.advertise)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// Assembles the state.
    pub fn new(
        store: Arc<Store>,
        auth: Authenticator,
        settings: Settings,
        tokens: Option<Arc<TokenSigner>>,
        service_range: ipnet::Ipv4Net,
        kubelet: Option<common::kubelet_proxy::KubeletProxy>,
    ) -> Self {
        let (changes, _) = tokio::sync::broadcast::channel(4096);
        Api {
            store,
            registry: Registry::new(),
            auth,
            settings,
            tokens,
            metrics: Metrics::new(),
            kubelet,
            shutdown: CancellationToken::new(),
            allocator: Mutex::new(ServiceAllocator::new(service_range)),
            changes,
            openapi: Mutex::new(None),
        }
    }

    /// The service IP/port allocator.
    pub fn allocator(&self) -> MutexGuard<'_, ServiceAllocator> {
        self.allocator.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether storage accepts writes.
    pub fn store_healthy(&self) -> bool {
        self.store.durable().borrow().failed.is_none()
    }

    /// Rebuilds state derived from stored objects: CRD-served resources and allocations.
    pub fn load_derived(&self) {
        self.refresh_crds();
        let services = self.store.list("/services", None, None, None, |_, _| true);
        for so in services.items {
            if let Ok(v) = so.value() {
                crate::kinds::service::mark(self, &v);
            }
        }
    }

    /// Re-reads every CRD and serves the established ones.
    pub fn refresh_crds(&self) {
        let crds = self.store.list(
            "apiextensions.k8s.io/customresourcedefinitions",
            None,
            None,
            None,
            |_, _| true,
        );
        let defs: Vec<Arc<ResourceDef>> = crds
            .items
            .iter()
            .filter_map(|so| so.value().ok())
            .filter(crate::registry::crd::is_established)
            .flat_map(|crd| crate::registry::crd::defs_from_crd(&crd))
            .map(Arc::new)
            .collect();
        self.registry.set_custom(defs);
    }

    /// Bookkeeping after a committed write: derived state and control-loop wake-ups.
    pub fn after_write(&self, def: &ResourceDef, old: Option<&Value>, new: Option<&Value>) {
        if def.group == "apiextensions.k8s.io" && def.kind == "CustomResourceDefinition" {
            self.refresh_crds();
        }
        if def.group.is_empty() && def.kind == "Service" {
            match (old, new) {
                (Some(o), None) => crate::kinds::service::release(self, o),
                (Some(o), Some(n)) => crate::kinds::service::release_dropped(self, o, n),
                _ => {}
            }
        }
        let obj = new.or(old);
        if let Some(o) = obj {
            let _ = self.changes.send(Change {
                storage: def.storage.clone(),
                namespace: crate::meta::namespace(o).to_string(),
                name: crate::meta::name(o).to_string(),
                uid: crate::meta::uid(o).to_string(),
                controller: crate::controllers::controller_of(o).map(|(k, n, _)| (k, n)),
                deleted: new.is_none(),
            });
        }
    }
}
