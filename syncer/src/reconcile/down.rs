//! Downward sync of the namespaced kinds that are copied more or less as they are: services,
//! secrets, configmaps, service accounts, endpoints, claims, ingresses.

use std::fmt::Debug;
use std::sync::Arc;

use std::collections::HashSet;
use std::net::IpAddr;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{SyncError, SyncResult, Synced, is_conflict, is_not_found, super_call};
use crate::cache::Store;
use crate::context::{Context, SuperCaches};
use crate::convert::{
    self, Change, ConvertError, TenantCtx, configmap, endpoints, ingress, owned_by, pvc,
    recorded_uid, secret, service, serviceaccount,
};
use crate::queue::{Resource as Res, WorkKey};
use crate::tenant::Tenant;

/// A namespaced kind synced downward by the generic reconciler.
pub trait DownSync:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Serialize
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The tenant cache.
    fn tenant_store(t: &Tenant) -> &Arc<Store<Self>>;
    /// The super cache.
    fn super_store(s: &SuperCaches) -> &Arc<Store<Self>>;
    /// The desired super copy.
    fn desired(ctx: &TenantCtx, v: &Self, existing: Option<&Self>) -> Result<Self, ConvertError>;
    /// What to write to an existing copy.
    fn diff(desired: &Self, existing: &Self) -> Change<Self>;
    /// Name of the super copy.
    fn super_name(v: &Self) -> String {
        v.name_any()
    }
    /// Super copies of tenant object `name` (used when the tenant object is gone).
    fn super_copies(s: &SuperCaches, super_ns: &str, name: &str) -> Vec<Arc<Self>> {
        Self::super_store(s)
            .get(super_ns, name)
            .into_iter()
            .collect()
    }
    /// Whether this tenant object is synced at all.
    fn wanted(_t: &Tenant, _v: &Self) -> bool {
        true
    }
    /// Whether an unmanaged super object of the same name serves as the copy (objects every
    /// namespace gets from the super cluster's own controllers).
    fn adopt_existing(_v: &Self) -> bool {
        false
    }
    /// Rejects a tenant object for reasons only the caches know (e.g. endpoint addresses that
    /// are not the tenant's own pods).
    fn admit(_ctx: &Context, _t: &Tenant, _v: &Self) -> Result<(), ConvertError> {
        Ok(())
    }
}

impl DownSync for Service {
    fn tenant_store(t: &Tenant) -> &Arc<Store<Self>> {
        &t.caches.services
    }
    fn super_store(s: &SuperCaches) -> &Arc<Store<Self>> {
        &s.services
    }
    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        service::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Change<Self> {
        service::diff(d, e)
    }
}

impl DownSync for Secret {
    fn tenant_store(t: &Tenant) -> &Arc<Store<Self>> {
        &t.caches.secrets
    }
    fn super_store(s: &SuperCaches) -> &Arc<Store<Self>> {
        &s.secrets
    }
    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        secret::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Change<Self> {
        secret::diff(d, e)
    }
    fn super_name(v: &Self) -> String {
        secret::super_name(v)
    }
    fn admit(_ctx: &Context, _t: &Tenant, v: &Self) -> Result<(), ConvertError> {
        let name = Self::super_name(v);
        if name.starts_with(secret::TOKEN_SECRET_PREFIX) {
            return Err(ConvertError::NameConflict(format!(
                "secret names starting with {:?} are reserved for the tokens the syncer issues \
                 to pods in the super cluster; rename the secret",
                secret::TOKEN_SECRET_PREFIX
            )));
        }
        Ok(())
    }
    fn super_copies(s: &SuperCaches, super_ns: &str, name: &str) -> Vec<Arc<Self>> {
        s.secrets
            .list_namespace(super_ns)
            .into_iter()
            .filter(|p| {
                p.metadata.name.as_deref() == Some(name)
                    || p.metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(crds::tenancy::LABEL_SECRET_NAME))
                        .map(String::as_str)
                        == Some(name)
            })
            // Token secrets issued for pods belong to service accounts, not to a tenant secret.
            .filter(|p| !secret::is_token_secret(&p.metadata))
            .collect()
    }
}

impl DownSync for ConfigMap {
    fn tenant_store(t: &Tenant) -> &Arc<Store<Self>> {
        &t.caches.configmaps
    }
    fn super_store(s: &SuperCaches) -> &Arc<Store<Self>> {
        &s.configmaps
    }
    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        configmap::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Change<Self> {
        configmap::diff(d, e)
    }
    fn wanted(_t: &Tenant, v: &Self) -> bool {
        // Every super namespace gets the super cluster's CA here; pods get the tenant's CA with
        // their service-account token instead.
        v.metadata.name.as_deref() != Some(ROOT_CA_CONFIGMAP)
    }
}

impl DownSync for ServiceAccount {
    fn tenant_store(t: &Tenant) -> &Arc<Store<Self>> {
        &t.caches.serviceaccounts
    }
    fn super_store(s: &SuperCaches) -> &Arc<Store<Self>> {
        &s.serviceaccounts
    }
    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        serviceaccount::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Change<Self> {
        serviceaccount::diff(d, e)
    }
    fn adopt_existing(v: &Self) -> bool {
        // The super service-account controller creates `default` in every namespace.
        v.metadata.name.as_deref() == Some("default")
    }
}

impl DownSync for Endpoints {
    fn tenant_store(t: &Tenant) -> &Arc<Store<Self>> {
        &t.caches.endpoints
    }
    fn super_store(s: &SuperCaches) -> &Arc<Store<Self>> {
        &s.endpoints
    }
    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        endpoints::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Change<Self> {
        endpoints::diff(d, e)
    }
    fn wanted(t: &Tenant, v: &Self) -> bool {
        // Only selector-less services: the super endpoints controller serves the others.
        let ns = v.namespace().unwrap_or_default();
        if ns == "default" && v.name_any() == "kubernetes" {
            return api_server_endpoints(t, v);
        }
        t.caches
            .services
            .get(&ns, &v.name_any())
            .is_some_and(|s| !service::has_selector(&s))
    }
    fn admit(ctx: &Context, t: &Tenant, v: &Self) -> Result<(), ConvertError> {
        let addresses = endpoints::endpoints_addresses(v);
        check_endpoint_addresses(ctx, t, &addresses)
    }
}

impl DownSync for EndpointSlice {
    fn tenant_store(t: &Tenant) -> &Arc<Store<Self>> {
        &t.caches.endpointslices
    }
    fn super_store(s: &SuperCaches) -> &Arc<Store<Self>> {
        &s.endpointslices
    }
    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        endpoints::slice_desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Change<Self> {
        endpoints::slice_diff(d, e)
    }
    fn wanted(_t: &Tenant, v: &Self) -> bool {
        endpoints::slice_is_hand_written(v)
    }
    fn admit(ctx: &Context, t: &Tenant, v: &Self) -> Result<(), ConvertError> {
        if v.address_type == "FQDN" {
            return Err(ConvertError::NotSupported(
                "FQDN EndpointSlices are not synced: the super cluster's proxies ignore them; \
                 use an ExternalName service (spec.servicePolicy.allowedExternalNames)"
                    .into(),
            ));
        }
        let addresses = endpoints::slice_addresses(v);
        check_endpoint_addresses(ctx, t, &addresses)
    }
}

/// Whether the tenant's `default/kubernetes` endpoints name its API server at the address the
/// syncer knows and super pods can reach; only then do they get a super copy (pods reach the
/// tenant API server through their host aliases and env either way).
fn api_server_endpoints(t: &Tenant, v: &Endpoints) -> bool {
    let Some(api) = t.api_endpoint() else {
        return false;
    };
    let Ok(ip) = api.ip.parse::<IpAddr>() else {
        return false;
    };
    let addresses = endpoints::endpoints_addresses(v);
    crate::convert::address::special_range(ip).is_none()
        && !addresses.is_empty()
        && addresses.iter().all(|(_, a)| a.parse::<IpAddr>() == Ok(ip))
}

fn check_endpoint_addresses(
    ctx: &Context,
    t: &Tenant,
    addresses: &[(String, String)],
) -> Result<(), ConvertError> {
    let api_ip = t.api_endpoint().and_then(|a| a.ip.parse::<IpAddr>().ok());
    let own = own_pod_ips(ctx, t);
    let is_own = |ip: IpAddr| own.contains(&ip) || Some(ip) == api_ip;
    endpoints::check_addresses(&t.ctx(), addresses, &is_own)
}

/// The IPs of the tenant's super pods (host-network pods excluded: their IP is the node's).
fn own_pod_ips(ctx: &Context, t: &Tenant) -> HashSet<IpAddr> {
    let tctx = t.ctx();
    let mut ips = HashSet::new();
    for ns in t.caches.namespaces.list() {
        let Ok(super_ns) = tctx.super_ns(&ns.name_any()) else {
            continue;
        };
        for p in ctx.supers.pods.list_namespace(&super_ns) {
            if !owned_by(&p.metadata, &t.key)
                || p.spec.as_ref().and_then(|s| s.host_network) == Some(true)
            {
                continue;
            }
            let Some(status) = p.status.as_ref() else {
                continue;
            };
            let listed = status.pod_ips.iter().flatten().map(|i| i.ip.as_str());
            for ip in status.pod_ip.as_deref().into_iter().chain(listed) {
                if let Ok(ip) = ip.parse() {
                    ips.insert(ip);
                }
            }
        }
    }
    ips
}

impl DownSync for PersistentVolumeClaim {
    fn tenant_store(t: &Tenant) -> &Arc<Store<Self>> {
        &t.caches.pvcs
    }
    fn super_store(s: &SuperCaches) -> &Arc<Store<Self>> {
        &s.pvcs
    }
    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        pvc::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Change<Self> {
        pvc::diff(d, e)
    }
}

impl DownSync for Ingress {
    fn tenant_store(t: &Tenant) -> &Arc<Store<Self>> {
        &t.caches.ingresses
    }
    fn super_store(s: &SuperCaches) -> &Arc<Store<Self>> {
        &s.ingresses
    }
    fn desired(ctx: &TenantCtx, v: &Self, e: Option<&Self>) -> Result<Self, ConvertError> {
        ingress::desired(ctx, v, e)
    }
    fn diff(d: &Self, e: &Self) -> Change<Self> {
        ingress::diff(d, e)
    }
    fn wanted(t: &Tenant, _v: &Self) -> bool {
        t.sync_ingresses
    }
}

/// The configmap with the cluster CA that Kubernetes publishes in every namespace.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

/// Runs the generic reconciler for `res`.
pub async fn dispatch(ctx: &Context, tenant: &Tenant, key: &WorkKey, res: Res) -> SyncResult {
    match res {
        Res::Service => sync::<Service>(ctx, tenant, key).await,
        Res::Secret => sync::<Secret>(ctx, tenant, key).await,
        Res::ConfigMap => sync::<ConfigMap>(ctx, tenant, key).await,
        Res::ServiceAccount => sync::<ServiceAccount>(ctx, tenant, key).await,
        Res::Endpoints => sync::<Endpoints>(ctx, tenant, key).await,
        Res::EndpointSlice => sync::<EndpointSlice>(ctx, tenant, key).await,
        Res::PersistentVolumeClaim => sync::<PersistentVolumeClaim>(ctx, tenant, key).await,
        Res::Ingress => sync::<Ingress>(ctx, tenant, key).await,
        _ => Ok(Synced::Unchanged),
    }
}

/// The tenant object of `key` when it should have a super copy.
pub fn wanted_tenant_object<K: DownSync>(tenant: &Tenant, key: &WorkKey) -> Option<Arc<K>> {
    K::tenant_store(tenant)
        .get(&key.namespace, &key.name)
        .filter(|v| v.meta().deletion_timestamp.is_none())
        .filter(|v| !convert::ignored(v.meta()))
        .filter(|v| K::wanted(tenant, v))
}

/// Level-based downward sync of one namespaced object.
pub async fn sync<K: DownSync>(ctx: &Context, tenant: &Tenant, key: &WorkKey) -> SyncResult {
    let tctx = tenant.ctx();
    let super_ns = tctx.super_ns(&key.namespace).map_err(ConvertError::from)?;
    let Some(v) = wanted_tenant_object::<K>(tenant, key) else {
        tenant.set_adopted(key.resource, &key.namespace, &key.name, false);
        let mut deleted = Synced::Unchanged;
        for p in K::super_copies(&ctx.supers, &super_ns, &key.name) {
            if owned_by(p.meta(), &tenant.key) {
                delete_super::<K>(ctx, &super_ns, &p).await?;
                deleted = Synced::Deleted;
            }
        }
        return Ok(deleted);
    };
    K::admit(ctx, tenant, &v)?;
    let pname = K::super_name(&v);
    let Some(p) = K::super_store(&ctx.supers).get(&super_ns, &pname) else {
        if tenant.is_adopted(key.resource, &key.namespace, &key.name) {
            return Ok(Synced::Unchanged);
        }
        let d = K::desired(&tctx, &v, None)?;
        // Services and claims count against the tenant's quota (see `quota::admit_object`).
        if let Some(held) = crate::quota::admit_object(ctx, key, v.meta(), &d).await? {
            return Ok(held);
        }
        return match create_super(ctx, &super_ns, &d).await {
            Ok(()) => Ok(Synced::Created),
            Err(e) if is_conflict(&e) && K::adopt_existing(&v) => {
                tenant.set_adopted(key.resource, &key.namespace, &key.name, true);
                Ok(Synced::Unchanged)
            }
            Err(e) => {
                crate::quota::object_create_failed(ctx, key, v.meta(), &e);
                Err(e)
            }
        };
    };
    if !owned_by(p.meta(), &tenant.key) {
        return Err(SyncError::Conflict(format!(
            "super {} {super_ns}/{pname} exists and does not belong to this tenant",
            K::kind(&())
        )));
    }
    if recorded_uid(p.meta()) != v.meta().uid.as_deref() && is_syncer_own(p.meta()) {
        return Err(ConvertError::NameConflict(format!(
            "the super {} {super_ns}/{pname} is one the syncer keeps for itself; rename the \
             tenant object",
            K::kind(&())
        ))
        .into());
    }
    if recorded_uid(p.meta()) != v.meta().uid.as_deref() {
        delete_super::<K>(ctx, &super_ns, &p).await?;
        return Err(SyncError::Waiting(format!(
            "replacing the super copy of an earlier {} {}/{}",
            K::kind(&()),
            key.namespace,
            key.name
        )));
    }
    let d = K::desired(&tctx, &v, Some(&p))?;
    match K::diff(&d, &p) {
        Change::None => Ok(Synced::Unchanged),
        Change::Update(u) => {
            let api: Api<K> = Api::namespaced(ctx.client.clone(), &super_ns);
            super_call(api.replace(&pname, &PostParams::default(), &u)).await?;
            Ok(Synced::Updated)
        }
        Change::Recreate(_) => {
            delete_super::<K>(ctx, &super_ns, &p).await?;
            Err(SyncError::Waiting(format!(
                "recreating {} {super_ns}/{pname} (immutable fields changed)",
                K::kind(&())
            )))
        }
    }
}

/// Whether a super object is one the syncer made for its own purposes (pod token secrets,
/// root namespaces), which no tenant object may replace.
pub fn is_syncer_own(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
    secret::is_token_secret(meta)
        || meta
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(crds::tenancy::ANNOTATION_VC_ROOT_NS))
}

/// Creates a super object.
pub async fn create_super<K: DownSync>(
    ctx: &Context,
    super_ns: &str,
    obj: &K,
) -> Result<(), SyncError> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), super_ns);
    super_call(api.create(&PostParams::default(), obj)).await?;
    Ok(())
}

/// Deletes a super object if it is still the one cached (uid precondition); gone is fine.
pub async fn delete_super<K: DownSync>(
    ctx: &Context,
    super_ns: &str,
    p: &K,
) -> Result<(), SyncError> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), super_ns);
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: p.meta().uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match super_call(api.delete(&p.name_any(), &dp)).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}
