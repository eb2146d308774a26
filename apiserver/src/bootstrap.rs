//! Objects every cluster starts with: system namespaces, the `kubernetes` service and its
//! endpoints, system priority classes, and upstream's default RBAC policy.

use serde_json::json;

use crate::api::Api;
use crate::error::ApiResult;
use crate::storage;
use crate::storage::Actor;

/// Creates what is missing and updates the `kubernetes` endpoints to the current address.
pub async fn run(api: &Api) -> ApiResult<()> {
    let actor = Actor::system("kube-apiserver");
    let ns_def = storage::def(api, "", "namespaces")?;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if storage::get(api, &ns_def, "", ns).is_none() {
            storage::create(
                api,
                &ns_def,
                &actor,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await?;
        }
    }
    let pc_def = storage::def(api, "scheduling.k8s.io", "priorityclasses")?;
    for (name, value, desc) in [
        (
            "system-node-critical",
            2_000_001_000i64,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2_000_000_000i64,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ] {
        if storage::get(api, &pc_def, "", name).is_none() {
            storage::create(api, &pc_def, &actor, json!({
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name}, "value": value, "description": desc, "globalDefault": false,
            })).await?;
        }
    }
    rbac_policy(api, &actor).await?;
    extension_apiserver_authentication(api, &actor).await?;
    crate::controllers::flowcontrol::ensure_bootstrap(api).await?;
    kubernetes_service(api, &actor).await
}

/// `kube-system/extension-apiserver-authentication`, which aggregated API servers read to
/// trust client certificates and the front proxy's `X-Remote-*` headers (kept current, as
/// upstream's post-start hook keeps it).
async fn extension_apiserver_authentication(api: &Api, actor: &Actor) -> ApiResult<()> {
    let agg = &api.aggregator;
    let mut data = json!({});
    if !agg.client_ca_pem.is_empty() {
        data["client-ca-file"] = json!(agg.client_ca_pem);
    }
    if !agg.proxy_ca_pem.is_empty() {
        data["requestheader-client-ca-file"] = json!(agg.proxy_ca_pem);
        data["requestheader-allowed-names"] = json!(r#"["front-proxy-client"]"#);
        data["requestheader-extra-headers-prefix"] = json!(r#"["X-Remote-Extra-"]"#);
        data["requestheader-group-headers"] = json!(r#"["X-Remote-Group"]"#);
        data["requestheader-username-headers"] = json!(r#"["X-Remote-User"]"#);
    }
    let name = "extension-apiserver-authentication";
    let def = storage::def(api, "", "configmaps")?;
    let updated = storage::update(api, &def, actor, "kube-system", name, None, |cm| {
        if cm.get("data") == Some(&data) {
            return false;
        }
        cm["data"] = data.clone();
        true
    })
    .await?;
    if updated.is_none() {
        storage::create(
            api,
            &def,
            actor,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "kube-system"}, "data": data}),
        )
        .await?;
    }
    Ok(())
}

/// Upstream's default RBAC policy: created when missing, reconciled (missing rules, subjects
/// and labels added) when present, as kube-apiserver's RBAC post-start hook does.
async fn rbac_policy(api: &Api, actor: &Actor) -> ApiResult<()> {
    use crate::authz::bootstrap_policy::{objects, reconcile, resource_of};
    for want in objects() {
        let def = storage::def(api, "rbac.authorization.k8s.io", resource_of(&want))?;
        let (ns, name) = (crate::meta::namespace(&want), crate::meta::name(&want));
        match storage::get(api, &def, ns, name) {
            None => {
                storage::create(api, &def, actor, want.clone()).await?;
            }
            Some(have) => {
                if reconcile(&have, &want).is_some() {
                    storage::update(api, &def, actor, ns, name, None, |cur| {
                        match reconcile(cur, &want) {
                            Some(next) => {
                                *cur = next;
                                true
                            }
                            None => false,
                        }
                    })
                    .await?;
                }
            }
        }
    }
    Ok(())
}

/// The `kubernetes` service in `default`, its Endpoints and EndpointSlice, pointing at this server.
async fn kubernetes_service(api: &Api, actor: &Actor) -> ApiResult<()> {
    let (host, port) = split_host_port(&api.settings.advertise);
    let ip = api.allocator().first_ip().to_string();
    let svc_def = storage::def(api, "", "services")?;
    if storage::get(api, &svc_def, "default", "kubernetes").is_none() {
        storage::create(api, &svc_def, actor, json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
        })).await?;
    }
    // A server on a loopback address advertises it (as upstream would, where validation then
    // refuses it): these are in-process writes, exempt from the endpoint address checks.
    let (address_ip, address_type) = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => (host.clone(), "IPv6"),
        Ok(std::net::IpAddr::V4(_)) => (host.clone(), "IPv4"),
        Err(_) => ("127.0.0.1".to_string(), "IPv4"),
    };
    let ep_def = storage::def(api, "", "endpoints")?;
    let subsets = json!([{"addresses": [{"ip": address_ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]);
    let updated = storage::update(api, &ep_def, actor, "default", "kubernetes", None, |ep| {
        if ep.get("subsets") == Some(&subsets) {
            return false;
        }
        ep["subsets"] = subsets.clone();
        true
    })
    .await?;
    if updated.is_none() {
        storage::create(api, &ep_def, actor, json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": subsets,
        })).await?;
    }
    let es_def = storage::def(api, "discovery.k8s.io", "endpointslices")?;
    let endpoints = json!([{"addresses": [address_ip], "conditions": {"ready": true}}]);
    let ports = json!([{"name": "https", "port": port, "protocol": "TCP"}]);
    let updated = storage::update(api, &es_def, actor, "default", "kubernetes", None, |es| {
        if es.get("endpoints") == Some(&endpoints)
            && es.get("ports") == Some(&ports)
            && es.get("addressType") == Some(&json!(address_type))
        {
            return false;
        }
        es["addressType"] = json!(address_type);
        es["endpoints"] = endpoints.clone();
        es["ports"] = ports.clone();
        true
    })
    .await?;
    if updated.is_none() {
        storage::create(api, &es_def, actor, json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": address_type, "endpoints": endpoints, "ports": ports,
        })).await?;
    }
    Ok(())
}

/// Splits `host:port` (IPv6 in brackets allowed).
pub fn split_host_port(s: &str) -> (String, u16) {
    match s.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse().unwrap_or(443),
        ),
        None => (s.to_string(), 443),
    }
}
