//! The tenant lifecycle: VirtualClusters in phase `Running` become tenants (client from the
//! `admin-kubeconfig` secret in their root namespace, a watch per synced resource); others stop
//! being served; deleted ones have their super namespaces removed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crds::tenancy::{self, SECRET_ADMIN_KUBECONFIG};
use crds::{ClusterPhase, VirtualCluster};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use kube::{Api, ResourceExt};
use tokio::sync::mpsc;

use super::health::health_loop;
use super::tenant::Tenant;
use crate::cache::{Change, Store, WatchSpec, run_watch};
use crate::context::Context;
use crate::convert::{TenantCtx, pod::ApiEndpoint, service};
use crate::queue::{TenantSettings, WorkKey, WorkQueue, limiter};
use crate::resources::{self, namespace};
use crate::route;

/// What to do about a VirtualCluster.
#[derive(Debug, PartialEq, Eq)]
pub enum Desired {
    /// Serve it as a tenant.
    Serve,
    /// Stop serving it but keep its super objects (not running right now).
    Pause,
    /// Stop serving it and remove its super namespaces (being deleted or gone).
    Remove,
}

/// The lifecycle's decision for a VirtualCluster (`None`: it no longer exists).
pub fn desired(vc: Option<&VirtualCluster>) -> Desired {
    match vc {
        None => Desired::Remove,
        Some(vc) if vc.metadata.deletion_timestamp.is_some() => Desired::Remove,
        Some(vc) if vc.phase() == Some(ClusterPhase::Deleting) => Desired::Remove,
        Some(vc) if vc.is_running() => Desired::Serve,
        Some(_) => Desired::Pause,
    }
}

/// Watches VirtualClusters and keeps the tenant set in step, forever.
pub async fn run(ctx: Arc<Context>) {
    let store: Arc<Store<VirtualCluster>> = Arc::new(Store::new());
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, String)>();
    {
        let client = ctx.client.clone();
        let store = Arc::clone(&store);
        let cancel = ctx.cancel.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let handler = move |c: Change<'_, VirtualCluster>| {
                let vc = c.object();
                let _ = tx.send((vc.namespace().unwrap_or_default(), vc.name_any()));
            };
            run_watch(client, WatchSpec::default(), store, handler, cancel).await;
        });
    }
    store.wait_synced().await;
    let known: Known = Mutex::new(HashMap::new());
    let resync = Duration::from_secs(ctx.config.health_interval_secs.max(5));
    let mut tick = tokio::time::interval(resync);
    loop {
        let mut batch: BTreeSet<(String, String)> = BTreeSet::new();
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            Some(k) = rx.recv() => { batch.insert(k); }
            _ = tick.tick() => {
                for vc in store.list() {
                    batch.insert((vc.namespace().unwrap_or_default(), vc.name_any()));
                }
                remove_orphaned_namespaces(&ctx, &store).await;
            }
        }
        while let Ok(k) = rx.try_recv() {
            batch.insert(k);
        }
        // Tenants start concurrently: each needs a few round trips (its kubeconfig secret, its
        // endpoint, a TLS client), and after a restart a hundred of them wait on each other.
        let known_ref = &known;
        let store_ref = &store;
        let ctx_ref = &ctx;
        futures::stream::iter(batch)
            .for_each_concurrent(Some(START_CONCURRENCY), |(ns, name)| async move {
                let vc = store_ref.get(&ns, &name);
                apply(ctx_ref, known_ref, (&ns, &name), vc.as_deref()).await;
            })
            .await;
    }
}

/// Tenant keys by VC, to find the key of a VC that is gone from the cache.
type Known = Mutex<HashMap<(String, String), String>>;

/// VirtualClusters whose tenants are started or stopped at once.
const START_CONCURRENCY: usize = 16;

fn lock(known: &Known) -> std::sync::MutexGuard<'_, HashMap<(String, String), String>> {
    // Entries are inserted and removed whole, so a poisoned map is still consistent.
    known.lock().unwrap_or_else(|e| e.into_inner())
}

async fn apply(
    ctx: &Arc<Context>,
    known: &Known,
    (ns, name): (&str, &str),
    vc: Option<&VirtualCluster>,
) {
    let id = (ns.to_string(), name.to_string());
    let key = match vc.map(tenancy::cluster_key) {
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            tracing::warn!(vc = %format!("{ns}/{name}"), error = %e, "VirtualCluster cannot be mapped to a cluster key");
            None
        }
        None => lock(known).get(&id).cloned(),
    };
    let Some(key) = key else {
        return;
    };
    match desired(vc) {
        Desired::Remove => {
            stop_tenant(ctx, &key);
            lock(known).remove(&id);
            match namespace::delete_all(ctx, &key).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    tenant = key,
                    namespaces = n,
                    "removed the super namespaces of a deleted VirtualCluster"
                ),
                Err(e) => {
                    tracing::warn!(tenant = key, error = %e, "removing super namespaces failed; will retry")
                }
            }
        }
        Desired::Pause => {
            if stop_tenant(ctx, &key) {
                tracing::info!(
                    tenant = key,
                    "VirtualCluster is not Running: stopped serving it"
                );
            }
        }
        Desired::Serve => {
            let Some(vc) = vc else { return };
            lock(known).insert(id, key.clone());
            if let Err(e) = serve(ctx, vc, &key).await {
                tracing::warn!(tenant = key, error = %e, "cannot serve tenant yet; will retry");
            }
        }
    }
}

/// Stops serving a tenant; returns whether it was served.
fn stop_tenant(ctx: &Context, key: &str) -> bool {
    let Some(t) = ctx.tenants.remove(key) else {
        return false;
    };
    t.cancel.cancel();
    ctx.down.remove_tenant(key);
    ctx.up.remove_tenant(key);
    ctx.metrics.forget_tenant(key);
    ctx.metrics
        .tenants
        .set(i64::try_from(ctx.tenants.len()).unwrap_or(0));
    true
}

fn settings(ctx: &Context, vc: &VirtualCluster) -> TenantSettings<governor::clock::MonotonicClock> {
    let sync = vc.spec.sync.clone().unwrap_or_default();
    let qps = sync.qps.filter(|q| *q > 0).unwrap_or(ctx.config.tenant_qps);
    let burst = sync
        .burst
        .filter(|b| *b > 0)
        .unwrap_or(ctx.config.tenant_burst);
    TenantSettings {
        weight: vc.spec.sync_weight(),
        limiter: Some(Arc::new(limiter(
            qps,
            burst,
            governor::clock::MonotonicClock,
        ))),
    }
}

async fn serve(ctx: &Arc<Context>, vc: &VirtualCluster, key: &str) -> Result<(), String> {
    // Quota changes apply at once (and before the tenant is served, so its first pods count).
    crate::quota::track::set_limits(ctx, vc, key);
    let kubeconfig = read_kubeconfig(ctx, key).await?;
    let fingerprint = tenancy::short_hash(&kubeconfig, 16);
    if let Some(t) = ctx.tenant(key) {
        if t.kubeconfig_fingerprint == fingerprint {
            let new_ctx = TenantCtx::from_vc(vc).map_err(|e| e.to_string())?;
            if *t.ctx() != new_ctx {
                t.set_ctx(new_ctx);
                requeue_down(ctx, &t, &ctx.down);
                let s = settings(ctx, vc);
                ctx.down.set_tenant(
                    &t.key,
                    TenantSettings {
                        weight: s.weight,
                        limiter: s.limiter.clone(),
                    },
                );
                ctx.up.set_tenant(&t.key, s);
                tracing::info!(tenant = key, "tenant settings updated");
            }
            return Ok(());
        }
        tracing::info!(
            tenant = key,
            "admin kubeconfig changed: restarting the tenant"
        );
        stop_tenant(ctx, key);
    }
    let (caches, _) = resources::stores(&ctx.config);
    let tenant = Tenant::new(vc, &kubeconfig, caches)
        .await
        .map_err(|e| e.to_string())?;
    let tenant = Arc::new(tenant);
    if let Some(ep) = apiserver_endpoint(ctx, key).await {
        tenant.set_api_endpoint(Some(ep));
    }
    let s = settings(ctx, vc);
    ctx.down.set_tenant(
        &tenant.key,
        TenantSettings {
            weight: s.weight,
            limiter: s.limiter.clone(),
        },
    );
    ctx.up.set_tenant(&tenant.key, s);
    ctx.down.set_paused(&tenant.key, true);
    ctx.up.set_paused(&tenant.key, true);
    ctx.tenants.insert(Arc::clone(&tenant));
    ctx.metrics
        .tenants
        .set(i64::try_from(ctx.tenants.len()).unwrap_or(0));
    for kind in resources::enabled(&ctx.config) {
        kind.watch_tenant(ctx, &tenant);
    }
    tokio::spawn(health_loop(Arc::clone(ctx), Arc::clone(&tenant)));
    tracing::info!(tenant = key, vc = %format!("{}/{}", vc.namespace().unwrap_or_default(), vc.name_any()), "serving tenant");
    Ok(())
}

async fn read_kubeconfig(ctx: &Context, root_ns: &str) -> Result<String, String> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), root_ns);
    let secret = tokio::time::timeout(
        Duration::from_secs(10),
        api.get_opt(SECRET_ADMIN_KUBECONFIG),
    )
    .await
    .map_err(|_| "reading the admin-kubeconfig secret timed out".to_string())?
    .map_err(|e| format!("reading secret {root_ns}/{SECRET_ADMIN_KUBECONFIG}: {e}"))?
    .ok_or_else(|| format!("secret {root_ns}/{SECRET_ADMIN_KUBECONFIG} does not exist yet"))?;
    let data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(SECRET_ADMIN_KUBECONFIG))
        .ok_or_else(|| {
            format!(
                "secret {root_ns}/{SECRET_ADMIN_KUBECONFIG} has no key {SECRET_ADMIN_KUBECONFIG}"
            )
        })?;
    String::from_utf8(data.0.clone()).map_err(|_| "the admin kubeconfig is not UTF-8".to_string())
}

/// Where super pods reach the tenant API server: its `apiserver-svc` service in the root
/// namespace, when there is one.
async fn apiserver_endpoint(ctx: &Context, root_ns: &str) -> Option<ApiEndpoint> {
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), root_ns);
    let svc = tokio::time::timeout(Duration::from_secs(10), api.get_opt("apiserver-svc"))
        .await
        .ok()?
        .ok()??;
    let ip = service::super_cluster_ip(&svc)?.to_string();
    let port = svc.spec.as_ref()?.ports.as_ref()?.first()?.port;
    Some(ApiEndpoint {
        ip,
        port: u16::try_from(port).ok()?,
    })
}

/// Queues downward work for every tenant object of the kinds a policy decides, e.g. after
/// the VirtualCluster's policy changed: objects refused before may now be allowed, and the
/// other way round.
fn requeue_down(ctx: &Context, t: &Tenant, down: &WorkQueue) {
    for kind in resources::enabled(&ctx.config).filter(|k| k.policy_sensitive()) {
        let res = kind.resource();
        let Some(store) = t.caches.of(res) else {
            continue;
        };
        for (ns, name) in store.keys() {
            down.add(WorkKey::new(&t.key, res, ns, name));
        }
    }
}

/// Removes super namespaces synced for VirtualClusters that no longer exist (deleted while the
/// syncer was down).
async fn remove_orphaned_namespaces(ctx: &Context, store: &Store<VirtualCluster>) {
    let namespaces = ctx.supers.get::<Namespace>();
    if !store.is_synced() || !namespaces.is_synced() {
        return;
    }
    let live: HashSet<String> = store
        .list()
        .iter()
        .filter_map(|vc| vc.metadata.uid.clone())
        .collect();
    for ns in namespaces.list() {
        let ann = ns.metadata.annotations.clone().unwrap_or_default();
        let Some(vc_uid) = ann.get(tenancy::ANNOTATION_VC_UID) else {
            continue;
        };
        if live.contains(vc_uid)
            || route::is_root_namespace(&ns.metadata)
            || !ann.contains_key(tenancy::ANNOTATION_NAMESPACE)
            || ns.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        tracing::info!(namespace = %ns.name_any(), "removing super namespace of a VirtualCluster that no longer exists");
        if let Err(e) = namespace::delete(ctx, &ns).await {
            tracing::warn!(namespace = %ns.name_any(), error = %e, "removing orphaned super namespace failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use crds::{VirtualClusterSpec, VirtualClusterStatus};

    use super::*;

    fn vc(phase: Option<ClusterPhase>) -> VirtualCluster {
        let mut vc = VirtualCluster::new("vc", VirtualClusterSpec::default());
        vc.status = Some(VirtualClusterStatus {
            phase,
            ..VirtualClusterStatus::default()
        });
        vc
    }

    #[test]
    fn only_running_vcs_are_served() {
        assert_eq!(
            desired(Some(&vc(Some(ClusterPhase::Running)))),
            Desired::Serve
        );
        assert_eq!(
            desired(Some(&vc(Some(ClusterPhase::Failed)))),
            Desired::Pause
        );
        assert_eq!(desired(Some(&vc(None))), Desired::Pause);
        assert_eq!(
            desired(Some(&vc(Some(ClusterPhase::Deleting)))),
            Desired::Remove
        );
        let mut gone = vc(Some(ClusterPhase::Running));
        gone.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
        );
        assert_eq!(desired(Some(&gone)), Desired::Remove);
        assert_eq!(desired(None), Desired::Remove);
    }
}
