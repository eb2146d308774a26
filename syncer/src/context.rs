//! The syncer's shared state: the super cluster's client and caches, the tenants, the queues
//! and the metrics; and the routing of super-cluster changes to tenant work items.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crds::tenancy::{self, TenantOrigin};
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod,
    Secret, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::{Api, Client, Resource};
use tokio_util::sync::CancellationToken;

use crate::cache::{Change, Store, WatchSpec, run_watch};
use crate::config::SyncerConfig;
use crate::convert::{event, secret};
use crate::metrics::Metrics;
use crate::queue::{Resource as Res, WorkKey, WorkQueue};
use crate::tenant::Tenant;

/// The super cluster's caches: managed objects only (label `tenancy.x-k8s.io/vcname`), plus
/// nodes, events of managed namespaces and public objects.
#[derive(Default)]
pub struct SuperCaches {
    /// Synced namespaces (and tenants' root namespaces).
    pub namespaces: Arc<Store<Namespace>>,
    /// Synced pods, pruned to what the syncer needs.
    pub pods: Arc<Store<Pod>>,
    /// Synced services.
    pub services: Arc<Store<Service>>,
    /// Synced secrets (and token secrets).
    pub secrets: Arc<Store<Secret>>,
    /// Synced configmaps.
    pub configmaps: Arc<Store<ConfigMap>>,
    /// Synced service accounts.
    pub serviceaccounts: Arc<Store<ServiceAccount>>,
    /// Synced endpoints.
    pub endpoints: Arc<Store<Endpoints>>,
    /// Endpoint slices the syncer copied down.
    pub endpointslices: Arc<Store<EndpointSlice>>,
    /// Synced claims.
    pub pvcs: Arc<Store<PersistentVolumeClaim>>,
    /// Synced ingresses.
    pub ingresses: Arc<Store<Ingress>>,
    /// Events about synced pods and services.
    pub events: Arc<Store<Event>>,
    /// Every node.
    pub nodes: Arc<Store<Node>>,
    /// Public PVs and PVs bound to synced claims.
    pub pvs: Arc<Store<PersistentVolume>>,
    /// Public StorageClasses.
    pub storageclasses: Arc<Store<StorageClass>>,
    /// Public PriorityClasses.
    pub priorityclasses: Arc<Store<PriorityClass>>,
}

/// Everything the workers and loops share.
pub struct Context {
    /// Settings.
    pub config: SyncerConfig,
    /// Client of the super cluster.
    pub client: Client,
    /// Super caches.
    pub supers: SuperCaches,
    tenants: RwLock<HashMap<Arc<str>, Arc<Tenant>>>,
    /// Downward work.
    pub down: Arc<WorkQueue>,
    /// Upward work.
    pub up: Arc<WorkQueue>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Stops everything.
    pub cancel: CancellationToken,
    /// Per-tenant quota ledgers.
    pub quota: crate::quota::Quotas,
}

impl Context {
    /// A context with empty caches and no tenants.
    pub fn new(
        config: SyncerConfig,
        client: Client,
        down: Arc<WorkQueue>,
        up: Arc<WorkQueue>,
        metrics: Arc<Metrics>,
        cancel: CancellationToken,
    ) -> Self {
        Context {
            config,
            client,
            supers: SuperCaches::default(),
            tenants: RwLock::new(HashMap::new()),
            down,
            up,
            metrics,
            cancel,
            quota: crate::quota::Quotas::default(),
        }
    }

    /// The tenant with cluster key `key`.
    pub fn tenant(&self, key: &str) -> Option<Arc<Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Every tenant.
    pub fn tenants(&self) -> Vec<Arc<Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Registers a tenant (replacing one with the same key, which is returned).
    pub fn insert_tenant(&self, t: Arc<Tenant>) -> Option<Arc<Tenant>> {
        self.tenants
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(Arc::clone(&t.key), t)
    }

    /// Unregisters a tenant.
    pub fn remove_tenant(&self, key: &str) -> Option<Arc<Tenant>> {
        self.tenants
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
    }

    /// Whether every super cache has loaded its initial list.
    pub fn supers_synced(&self) -> bool {
        let s = &self.supers;
        s.namespaces.is_synced()
            && s.pods.is_synced()
            && s.services.is_synced()
            && s.secrets.is_synced()
            && s.configmaps.is_synced()
            && s.serviceaccounts.is_synced()
            && s.endpoints.is_synced()
            && s.pvcs.is_synced()
            && (!self.config.sync_ingresses || s.ingresses.is_synced())
            && s.nodes.is_synced()
    }

    /// The tenant and origin recorded on a super object's annotations.
    pub fn origin_of(
        &self,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Option<(Arc<Tenant>, TenantOrigin)> {
        let origin = TenantOrigin::from_annotations(meta.annotations.as_ref()?)?;
        let tenant = self.tenant(&origin.cluster_key)?;
        Some((tenant, origin))
    }

    fn queue_for(
        &self,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        res: Res,
        down: bool,
        up: bool,
    ) {
        let Some((tenant, origin)) = self.origin_of(meta) else {
            return;
        };
        let name = meta.name.clone().unwrap_or_default();
        let key = WorkKey::new(&tenant.key, res, origin.namespace, name);
        if down {
            self.down.add(key.clone());
        }
        if up {
            self.up.add(key);
        }
    }

    /// Starts the super cluster's watches.
    pub fn start_super_watches(self: &Arc<Self>) {
        let s = &self.supers;
        self.watch(Arc::clone(&s.namespaces), managed(), |ctx, c| {
            let meta = obj_meta(&c);
            // A namespace's tenant name is in its namespace annotation; the key is cluster-scoped.
            if let Some((tenant, origin)) = ctx.origin_of(meta) {
                if meta
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(tenancy::ANNOTATION_VC_ROOT_NS))
                    .is_some()
                {
                    return;
                }
                ctx.down.add(WorkKey::new(
                    &tenant.key,
                    Res::Namespace,
                    "",
                    origin.namespace,
                ));
            }
        });
        self.watch(
            Arc::clone(&s.pods),
            WatchSpec {
                prune: crate::quota::prune_super_pod,
                ..managed()
            },
            |ctx, c| {
                crate::quota::on_super_pod(ctx, &c);
                match c {
                    Change::Applied(p) => ctx.queue_for(&p.metadata, Res::Pod, false, true),
                    Change::Deleted(p) => ctx.queue_for(&p.metadata, Res::Pod, true, true),
                }
            },
        );
        self.watch(Arc::clone(&s.services), managed(), |ctx, c| {
            crate::quota::on_super_service(ctx, &c);
            ctx.queue_for(obj_meta(&c), Res::Service, true, true);
        });
        self.watch(Arc::clone(&s.secrets), managed(), |ctx, c| {
            let meta = obj_meta(&c);
            let ann = meta.annotations.clone().unwrap_or_default();
            if let Some(sa) = ann.get(secret::ANNOTATION_TOKEN_SA) {
                if let Some((tenant, origin)) = ctx.origin_of(meta) {
                    ctx.down.add(WorkKey::new(
                        &tenant.key,
                        Res::ServiceAccount,
                        origin.namespace,
                        sa.clone(),
                    ));
                }
            } else if let Some(vname) = ann.get(tenancy::LABEL_SECRET_NAME) {
                if let Some((tenant, origin)) = ctx.origin_of(meta) {
                    ctx.down.add(WorkKey::new(
                        &tenant.key,
                        Res::Secret,
                        origin.namespace,
                        vname.clone(),
                    ));
                }
            } else {
                ctx.queue_for(meta, Res::Secret, true, false);
            }
        });
        self.watch(Arc::clone(&s.configmaps), managed(), |ctx, c| {
            ctx.queue_for(obj_meta(&c), Res::ConfigMap, true, false);
        });
        self.watch(Arc::clone(&s.serviceaccounts), managed(), |ctx, c| {
            ctx.queue_for(obj_meta(&c), Res::ServiceAccount, true, false);
        });
        self.watch(Arc::clone(&s.endpoints), managed(), |ctx, c| {
            ctx.queue_for(obj_meta(&c), Res::Endpoints, true, false);
        });
        self.watch(Arc::clone(&s.endpointslices), managed(), |ctx, c| {
            ctx.queue_for(obj_meta(&c), Res::EndpointSlice, true, false);
        });
        self.watch(Arc::clone(&s.pvcs), managed(), |ctx, c| {
            crate::quota::on_super_claim(ctx, &c);
            ctx.queue_for(obj_meta(&c), Res::PersistentVolumeClaim, true, true);
        });
        if self.config.sync_ingresses {
            self.watch(Arc::clone(&s.ingresses), managed(), |ctx, c| {
                ctx.queue_for(obj_meta(&c), Res::Ingress, true, true);
            });
        }
        let me = Arc::downgrade(self);
        self.watch(
            Arc::clone(&s.events),
            WatchSpec {
                keep: Box::new(move |ev: &Event| {
                    me.upgrade().is_some_and(|c| c.event_target(ev).is_some())
                }),
                ..WatchSpec::default()
            },
            |ctx, c| {
                let ev = match c {
                    Change::Applied(e) => e,
                    Change::Deleted(_) => return,
                };
                if let Some((tenant, tenant_ns)) = ctx.event_target(ev) {
                    let name = ev.metadata.name.clone().unwrap_or_default();
                    ctx.up
                        .add(WorkKey::new(&tenant.key, Res::Event, tenant_ns, name));
                }
            },
        );
        self.watch(Arc::clone(&s.nodes), WatchSpec::default(), |ctx, c| {
            let name = obj_meta(&c).name.clone().unwrap_or_default();
            for t in ctx.tenants() {
                if t.caches.nodes.get("", &name).is_some() {
                    ctx.up
                        .add(WorkKey::new(&t.key, Res::Node, "", name.clone()));
                }
            }
        });
        self.watch(Arc::clone(&s.storageclasses), public(), |ctx, c| {
            ctx.broadcast(Res::StorageClass, obj_meta(&c));
        });
        self.watch(Arc::clone(&s.priorityclasses), public(), |ctx, c| {
            ctx.broadcast(Res::PriorityClass, obj_meta(&c));
        });
        let me = Arc::downgrade(self);
        self.watch(
            Arc::clone(&s.pvs),
            WatchSpec {
                keep: Box::new(move |pv: &PersistentVolume| {
                    crate::convert::public::is_public(&pv.metadata)
                        || me.upgrade().is_some_and(|c| c.pv_tenant(pv).is_some())
                }),
                ..WatchSpec::default()
            },
            |ctx, c| {
                let pv = match &c {
                    Change::Applied(p) | Change::Deleted(p) => *p,
                };
                let name = pv.metadata.name.clone().unwrap_or_default();
                if crate::convert::public::is_public(&pv.metadata) {
                    ctx.broadcast(Res::PersistentVolume, &pv.metadata);
                } else if let Some(t) = ctx.pv_tenant(pv) {
                    ctx.up
                        .add(WorkKey::new(&t.key, Res::PersistentVolume, "", name));
                }
            },
        );
    }

    fn broadcast(
        &self,
        res: Res,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) {
        let name = meta.name.clone().unwrap_or_default();
        for t in self.tenants() {
            self.up.add(WorkKey::new(&t.key, res, "", name.clone()));
        }
    }

    /// The tenant of the super claim a PV is bound to.
    pub fn pv_tenant(&self, pv: &PersistentVolume) -> Option<Arc<Tenant>> {
        let claim = pv.spec.as_ref()?.claim_ref.as_ref()?;
        let ns = self
            .supers
            .namespaces
            .get("", claim.namespace.as_deref()?)?;
        let (tenant, _) = self.origin_of(&ns.metadata)?;
        Some(tenant)
    }

    /// The tenant and tenant namespace a super event is about (synced pods and services only).
    pub fn event_target(&self, ev: &Event) -> Option<(Arc<Tenant>, String)> {
        let obj = &ev.involved_object;
        let kind = obj.kind.as_deref()?;
        if !event::UPWARD_KINDS.contains(&kind) {
            return None;
        }
        let ns = obj.namespace.as_deref()?;
        let name = obj.name.as_deref()?;
        let meta = match kind {
            "Pod" => self.supers.pods.get(ns, name).map(|p| p.metadata.clone()),
            _ => self
                .supers
                .services
                .get(ns, name)
                .map(|s| s.metadata.clone()),
        };
        // A real scheduler writes `Scheduled` as soon as it binds, often before our pod watch
        // has the pod: the super namespace already tells whose it is.
        let meta = match meta {
            Some(m) => m,
            None => {
                let nsm = self.supers.namespaces.get("", ns)?.metadata.clone();
                let root = nsm
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key(tenancy::ANNOTATION_VC_ROOT_NS));
                if root {
                    return None;
                }
                nsm
            }
        };
        let (tenant, origin) = self.origin_of(&meta)?;
        Some((tenant, origin.namespace))
    }

    fn watch<K, F>(self: &Arc<Self>, store: Arc<Store<K>>, spec: WatchSpec<K>, route: F)
    where
        K: Resource<DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
        F: Fn(&Context, Change<'_, K>) + Send + Sync + 'static,
    {
        let api: Api<K> = Api::all(self.client.clone());
        let ctx = Arc::downgrade(self);
        let cancel = self.cancel.clone();
        tokio::spawn(async move {
            let handler = move |c: Change<'_, K>| {
                if let Some(ctx) = ctx.upgrade() {
                    route(&ctx, c);
                }
            };
            run_watch(api, spec, store, handler, cancel).await;
        });
    }
}

/// Watch only public objects.
fn public<K>() -> WatchSpec<K> {
    WatchSpec {
        labels: Some(format!("{}=true", tenancy::LABEL_SUPER_PUBLIC)),
        ..WatchSpec::default()
    }
}

/// Watch only objects the syncer manages.
fn managed<K>() -> WatchSpec<K> {
    WatchSpec {
        labels: Some(tenancy::LABEL_VC_NAME.to_string()),
        ..WatchSpec::default()
    }
}

fn obj_meta<'a, K: Resource>(
    c: &Change<'a, K>,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    match c {
        Change::Applied(o) | Change::Deleted(o) => o.meta(),
    }
}
