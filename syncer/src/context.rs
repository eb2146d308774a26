//! The syncer's shared state: settings, the super cluster's client and caches, the tenants, the
//! queues, the quota ledgers and the metrics. Which kinds are cached and how changes are routed
//! is the resource modules' business (see `resources`).

use std::sync::Arc;

use kube::Client;
use tokio_util::sync::CancellationToken;

use crate::config::SyncerConfig;
use crate::metrics::Metrics;
use crate::queue::WorkQueue;
use crate::quota::Quotas;
use crate::stores::Stores;
use crate::tenants::TenantSet;
use crate::tenants::tenant::Tenant;

/// Everything the workers and loops share.
pub struct Context {
    /// Settings.
    pub config: SyncerConfig,
    /// Client of the super cluster.
    pub client: Client,
    /// Super caches: managed objects only (label `tenancy.x-k8s.io/vcname`), plus nodes,
    /// events of managed namespaces and public objects.
    pub supers: Stores,
    /// The served tenants and their indexes.
    pub tenants: TenantSet,
    /// Downward work.
    pub down: Arc<WorkQueue>,
    /// Upward work.
    pub up: Arc<WorkQueue>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Stops everything.
    pub cancel: CancellationToken,
    /// Per-tenant quota ledgers.
    pub quota: Quotas,
}

/// The queues a context is built with.
pub struct Queues {
    /// Downward work.
    pub down: Arc<WorkQueue>,
    /// Upward work.
    pub up: Arc<WorkQueue>,
}

impl Context {
    /// A context with the (empty) super caches `supers` and no tenants.
    pub fn new(
        config: SyncerConfig,
        client: Client,
        supers: Stores,
        queues: Queues,
        metrics: Arc<Metrics>,
        cancel: CancellationToken,
    ) -> Self {
        Context {
            config,
            client,
            supers,
            tenants: TenantSet::default(),
            down: queues.down,
            up: queues.up,
            metrics,
            cancel,
            quota: Quotas::default(),
        }
    }

    /// The tenant with cluster key `key`.
    pub fn tenant(&self, key: &str) -> Option<Arc<Tenant>> {
        self.tenants.get(key)
    }

    /// Every tenant.
    pub fn tenants(&self) -> Vec<Arc<Tenant>> {
        self.tenants.all()
    }

    /// Whether every super cache the syncer waits for has loaded its initial list.
    pub fn supers_synced(&self) -> bool {
        self.supers.synced()
    }
}
