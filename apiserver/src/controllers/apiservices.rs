//! APIServices as upstream's aggregator keeps them: a local APIService for every served
//! group-version (built-ins `onstart` with upstream's priorities, CRD groups `true` with 1000/100),
//! removed when the group-version is no longer served, always `Available` (`Local`); and the
//! availability of APIServices backed by a service, checked as upstream's availability
//! controller checks it (`ServiceNotFound`, `ServicePortError`, `EndpointsNotFound`,
//! `MissingEndpoints` for a ClusterIP service, then the backend's discovery: `Passed` or
//! `FailedDiscoveryCheck`), after which the discovery the aggregator serves for it is
//! refreshed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::runtime::{Controller, Key, Requeue};
use crate::aggregator::{Remote, discovery};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::kinds::apiregistration::AUTOMANAGED;
use crate::meta;
use crate::storage::{self, Actor};

const APISERVICES: &str = "apiregistration.k8s.io/apiservices";
const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// Upstream's `(groupPriorityMinimum, versionPriority)` of built-in group-versions.
fn builtin_priority(group: &str, version: &str) -> (i64, i64) {
    match (group, version) {
        ("", _) => (18000, 1),
        ("apps", _) => (17800, 15),
        ("events.k8s.io", _) => (17750, 15),
        ("authentication.k8s.io", _) => (17700, 15),
        ("authorization.k8s.io", _) => (17600, 15),
        ("autoscaling", "v2") => (17500, 30),
        ("autoscaling", _) => (17500, 15),
        ("batch", _) => (17400, 15),
        ("certificates.k8s.io", _) => (17300, 15),
        ("networking.k8s.io", _) => (17200, 15),
        ("policy", _) => (17100, 15),
        ("rbac.authorization.k8s.io", _) => (17000, 15),
        ("storage.k8s.io", _) => (16800, 15),
        ("apiextensions.k8s.io" | "admissionregistration.k8s.io", _) => (16700, 15),
        ("scheduling.k8s.io", _) => (16600, 15),
        ("coordination.k8s.io", _) => (16500, 15),
        ("node.k8s.io", _) => (16300, 15),
        ("discovery.k8s.io", _) => (16200, 15),
        ("flowcontrol.apiserver.k8s.io", "v1beta3") => (16100, 18),
        ("flowcontrol.apiserver.k8s.io", _) => (16100, 15),
        _ => (16000, 15),
    }
}

/// The local APIServices the served resources call for, by name.
fn desired(api: &Api) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for def in api.registry.all() {
        if def.group == "apiregistration.k8s.io" {
            continue;
        }
        let name = format!("{}.{}", def.version, def.group);
        let (gp, vp, managed) = match def.crd {
            Some(_) => (1000, 100, "true"),
            None => {
                let (g, v) = builtin_priority(&def.group, &def.version);
                (g, v, "onstart")
            }
        };
        let mut spec =
            json!({"version": def.version, "groupPriorityMinimum": gp, "versionPriority": vp});
        if !def.group.is_empty() {
            spec["group"] = json!(def.group);
        }
        out.entry(name.clone()).or_insert_with(|| {
            json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                "metadata": {"name": name, "labels": {AUTOMANAGED: managed}}, "spec": spec})
        });
    }
    out
}

fn condition(status: &str, reason: &str, message: &str, previous: Option<&Value>) -> Value {
    let since = previous
        .and_then(|o| o.pointer("/status/conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter().find(|c| {
                c.get("type").and_then(Value::as_str) == Some("Available")
                    && c.get("status").and_then(Value::as_str) == Some(status)
            })
        })
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(meta::now()));
    json!({"conditions": [{"type": "Available", "status": status, "reason": reason,
        "message": message, "lastTransitionTime": since}]})
}

/// The status of a local APIService, or of a service-backed one whose service, port or
/// endpoints are missing (`None`: the backend must be asked).
fn static_status(api: &Api, svc_ref: Option<&Value>, current: Option<&Value>) -> Option<Value> {
    let Some(r) = svc_ref.filter(|s| !s.is_null()) else {
        return Some(condition(
            "True",
            "Local",
            "Local APIServices are always available",
            current,
        ));
    };
    let s = |k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (ns, name) = (s("namespace"), s("name"));
    let Some(svc) = api
        .store
        .get("/services", &ns, &name)
        .and_then(|o| o.value().ok())
    else {
        let msg = format!("service/{name} in \"{ns}\" is not present");
        return Some(condition("False", "ServiceNotFound", &msg, current));
    };
    let svc_type = svc
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if svc_type != "ClusterIP" {
        return None;
    }
    let port = r.get("port").and_then(Value::as_i64).unwrap_or(443);
    let Some(port_name) = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("port").and_then(Value::as_i64) == Some(port))
        .map(|p| {
            p.get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
    else {
        let msg = format!("service/{name} in \"{ns}\" is not listening on port {port}");
        return Some(condition("False", "ServicePortError", &msg, current));
    };
    let Some(ep) = api
        .store
        .get("/endpoints", &ns, &name)
        .and_then(|o| o.value().ok())
    else {
        let msg = format!("cannot find endpoints for service/{name} in \"{ns}\"");
        return Some(condition("False", "EndpointsNotFound", &msg, current));
    };
    let active = ep
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|sub| {
            sub.get("addresses")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        })
        .flat_map(|sub| {
            sub.get("ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .any(|p| p.get("name").and_then(Value::as_str).unwrap_or_default() == port_name);
    if !active {
        let msg = format!(
            "endpoints for service/{name} in \"{ns}\" have no addresses with port name \"{port_name}\""
        );
        return Some(condition("False", "MissingEndpoints", &msg, current));
    }
    None
}

/// The status an APIService should have: the static checks, then the backend's discovery
/// check for a service-backed one.
async fn status_of(api: &Api, obj: &Value) -> Value {
    if let Some(s) = static_status(api, obj.pointer("/spec/service"), Some(obj)) {
        return s;
    }
    let Some(mut remote) = Remote::from_object(obj) else {
        return condition("False", "FailedDiscoveryCheck", "", Some(obj));
    };
    remote.available = true;
    match discovery::check(api, &remote).await {
        Ok(()) => condition("True", "Passed", "all checks passed", Some(obj)),
        Err(msg) => condition("False", "FailedDiscoveryCheck", &msg, Some(obj)),
    }
}

/// Brings one APIService's status up to date, then refreshes the discovery the aggregator
/// keeps of a service-backed one.
async fn sync_one(
    api: &Api,
    def: &crate::registry::ResourceDef,
    obj: Value,
) -> Result<(), ApiError> {
    let status = status_of(api, &obj).await;
    super::runtime::write_status(api, def, &obj, "kube-aggregator", status.clone()).await?;
    let mut now = obj;
    now["status"] = status;
    if let Some(remote) = Remote::from_object(&now) {
        let fetched = discovery::fetch(api, &remote).await;
        api.aggregator.record(&remote.name, fetched);
    }
    Ok(())
}

/// The APIService loop (one key: it reconciles them all).
pub struct ApiServices;

impl Controller for ApiServices {
    fn name(&self) -> &'static str {
        "apiservice-registration"
    }

    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key> {
        let relevant =
            match change.storage.as_str() {
                CRDS | APISERVICES => true,
                "/services" | "/endpoints" => storage::list_values(api, APISERVICES, None)
                    .iter()
                    .any(|a| {
                        a.pointer("/spec/service/namespace").and_then(Value::as_str)
                            == Some(change.namespace.as_str())
                    }),
                _ => false,
            };
        if relevant {
            self.all_keys(api)
        } else {
            Vec::new()
        }
    }

    fn all_keys(&self, _api: &Api) -> Vec<Key> {
        vec![(String::new(), "apiservices".into())]
    }

    async fn reconcile(&self, api: Arc<Api>, _key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "apiregistration.k8s.io", "apiservices")?;
        let actor = Actor::system("kube-aggregator");
        let want = desired(&api);
        let existing = storage::list_values(&api, APISERVICES, None);
        for (name, obj) in &want {
            if !existing.iter().any(|e| meta::name(e) == name) {
                match storage::create(&api, &def, &actor, obj.clone()).await {
                    Ok(_) => {}
                    Err(e) if e.code == 409 => {}
                    Err(e) => return Err(e),
                }
            }
        }
        for e in &existing {
            let name = meta::name(e).to_string();
            let managed = meta::labels(e).contains_key(AUTOMANAGED);
            if managed && !want.contains_key(&name) {
                super::runtime::delete_gone_ok(&api, &def, "", &name).await?;
            }
        }
        let current = storage::list_values(&api, APISERVICES, None);
        let names: Vec<String> = current.iter().map(|o| meta::name(o).to_string()).collect();
        api.aggregator.retain(&names);
        let syncs = current.into_iter().map(|obj| sync_one(&api, &def, obj));
        for r in futures::future::join_all(syncs).await {
            r?;
        }
        Ok(None)
    }
}
