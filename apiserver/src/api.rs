//! The server's shared state.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::ipalloc::ServiceAllocator;
use crate::metrics::Metrics;
use crate::registry::{Registry, Shared};
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
    /// Authorization (RBAC, with its index cache).
    pub authz: crate::authz::authorizer::Authorizer,
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
    shared: Shared,
    /// OpenAPI documents for a registry generation, built on first request.
    pub openapi: Mutex<Option<(u64, Arc<crate::openapi_doc::OpenApi>)>>,
    /// Woken after every write, for the in-process control loops.
    pub changes: tokio::sync::broadcast::Sender<Change>,
    /// Quota admission's charging lock.
    pub quota: crate::quota::charging::QuotaAdmission,
    /// The control loops' event correlator.
    pub events: crate::controllers::event_correlator::Correlator,
    /// The aggregator's front-proxy identity and remote discovery.
    pub aggregator: crate::aggregator::state::AggregatorState,
    /// Which control loops are running.
    pub loops: crate::controllers::liveness::Liveness,
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
        let shared = Shared::new(service_range);
        Api {
            store,
            registry: Registry::new(&shared),
            auth,
            authz: Default::default(),
            settings,
            tokens,
            metrics: Metrics::new(),
            kubelet,
            shutdown: CancellationToken::new(),
            shared,
            changes,
            openapi: Mutex::new(None),
            quota: Default::default(),
            events: Default::default(),
            aggregator: Default::default(),
            loops: Default::default(),
        }
    }

    /// The service IP/port allocator.
    pub fn allocator(&self) -> MutexGuard<'_, ServiceAllocator> {
        self.shared
            .services
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Whether storage accepts writes.
    pub fn store_healthy(&self) -> bool {
        self.store.durable().borrow().failed.is_none()
    }
}
