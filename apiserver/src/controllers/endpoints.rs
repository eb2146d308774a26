//! Endpoints and EndpointSlices of services with selectors, from the pods they select: ready
//! pods with an IP are addresses, others not-ready addresses; target ports resolved by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::replicaset::{is_ready, owner_ref};
use super::runtime::{Controller, Key, Requeue, keys_in, keys_of};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::selectors::{LabelRequirement, LabelSelector};
use crate::storage::Actor;
use crate::storage::{DeleteOptions, delete_object};
use crate::{meta, storage};

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const SLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";

fn service_keys(api: &Api, change: &Change) -> Vec<Key> {
    match change.storage.as_str() {
        "/services" => vec![(change.namespace.clone(), change.name.clone())],
        "/pods" => keys_in(api, "/services", Some(&change.namespace)),
        _ => Vec::new(),
    }
}

/// A service's selector, if it has a non-empty one.
fn selector(svc: &Value) -> Option<LabelSelector> {
    let m = svc.pointer("/spec/selector").and_then(Value::as_object)?;
    if m.is_empty() {
        return None;
    }
    Some(LabelSelector(
        m.iter()
            .map(|(k, v)| {
                LabelRequirement::In(k.clone(), vec![v.as_str().unwrap_or_default().to_string()])
            })
            .collect(),
    ))
}

/// One selected pod's addressing.
struct Member {
    ip: String,
    ready: bool,
    terminating: bool,
    node: Option<String>,
    hostname: Option<String>,
    target: Value,
    ports: Vec<Value>,
}

/// Resolves a service port's target port against a pod (`None` when a named port is missing).
fn target_port(svc_port: &Value, pod: &Value) -> Option<i64> {
    match svc_port.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(name)) => pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)?
            .iter()
            .flat_map(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name.as_str()))
            .and_then(|p| p.get("containerPort").and_then(Value::as_i64)),
        _ => svc_port.get("port").and_then(Value::as_i64),
    }
}

fn members(api: &Api, svc: &Value, sel: &LabelSelector) -> Vec<Member> {
    let ns = meta::namespace(svc);
    let svc_name = meta::name(svc);
    let publish_not_ready = svc
        .pointer("/spec/publishNotReadyAddresses")
        .and_then(Value::as_bool)
        == Some(true);
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pods = api
        .store
        .list("/pods", Some(ns), None, None, |_, o| {
            sel.matches(|k| o.label(k))
        })
        .items;
    let mut out = Vec::new();
    for so in pods {
        let Ok(p) = so.value() else { continue };
        let ip = p
            .pointer("/status/podIP")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let phase = p
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if ip.is_empty() || phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        let terminating = meta::is_deleting(&p);
        let ready = (is_ready(&p) || publish_not_ready) && !terminating;
        let resolved: Vec<Value> = ports
            .iter()
            .filter_map(|sp| {
                let port = target_port(sp, &p)?;
                // Upstream always sets the name (empty for an unnamed port); clients dereference it.
                let name = sp.get("name").and_then(Value::as_str).unwrap_or_default();
                let mut e = json!({"name": name, "port": port, "protocol": sp.get("protocol").cloned().unwrap_or(json!("TCP"))});
                if let Some(ap) = sp.get("appProtocol") {
                    e["appProtocol"] = ap.clone();
                }
                Some(e)
            })
            .collect();
        let hostname = match (p.pointer("/spec/hostname"), p.pointer("/spec/subdomain")) {
            (Some(Value::String(h)), Some(Value::String(s))) if s == svc_name => Some(h.clone()),
            _ => None,
        };
        out.push(Member {
            ip,
            ready,
            terminating,
            node: p.pointer("/spec/nodeName").and_then(Value::as_str).map(str::to_string),
            hostname,
            target: json!({"kind": "Pod", "namespace": ns, "name": meta::name(&p), "uid": meta::uid(&p)}),
            ports: resolved,
        });
    }
    out.sort_by(|a, b| a.ip.cmp(&b.ip));
    out
}

/// (ready addresses, not-ready addresses, ports) of one port set.
type Subset = (Vec<Value>, Vec<Value>, Vec<Value>);

/// The Endpoints controller.
pub struct EndpointsController;

impl Controller for EndpointsController {
    fn name(&self) -> &'static str {
        "endpoint"
    }

    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key> {
        service_keys(api, change)
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, "/services")
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let svc_def = storage::def(&api, "", "services")?;
        let ep_def = storage::def(&api, "", "endpoints")?;
        let actor = Actor::system("endpoint-controller");
        let svc = storage::get(&api, &svc_def, &key.0, &key.1);
        let existing = storage::get(&api, &ep_def, &key.0, &key.1);
        let Some(svc) = svc else {
            // The service is gone: so are the endpoints the controller made for it.
            if existing.is_some_and(|e| {
                e.pointer("/metadata/labels")
                    .and_then(|l| l.get("endpoints.kubernetes.io/managed-by"))
                    .is_some()
            }) {
                let _ =
                    delete_object(&api, &ep_def, &key.0, &key.1, &DeleteOptions::default()).await;
            }
            return Ok(None);
        };
        let Some(sel) = selector(&svc) else {
            return Ok(None);
        };
        let mut groups: BTreeMap<String, Subset> = BTreeMap::new();
        for m in members(&api, &svc, &sel) {
            if m.ports.is_empty() {
                continue;
            }
            let mut addr = json!({"ip": m.ip, "targetRef": m.target});
            if let Some(n) = &m.node {
                addr["nodeName"] = json!(n);
            }
            if let Some(h) = &m.hostname {
                addr["hostname"] = json!(h);
            }
            let g = groups
                .entry(serde_json::to_string(&m.ports).unwrap_or_default())
                .or_insert_with(|| (Vec::new(), Vec::new(), m.ports.clone()));
            if m.ready {
                g.0.push(addr)
            } else {
                g.1.push(addr)
            }
        }
        let subsets: Vec<Value> = groups
            .into_values()
            .map(|(ready, not_ready, ports)| {
                let mut s = json!({"ports": ports});
                if !ready.is_empty() {
                    s["addresses"] = json!(ready);
                }
                if !not_ready.is_empty() {
                    s["notReadyAddresses"] = json!(not_ready);
                }
                s
            })
            .collect();
        let mut labels = svc
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        labels["endpoints.kubernetes.io/managed-by"] = json!("endpoint-controller");
        match existing {
            None => {
                let mut ep = json!({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": key.1, "namespace": key.0, "labels": labels}});
                if !subsets.is_empty() {
                    ep["subsets"] = json!(subsets);
                }
                match storage::create(&api, &ep_def, &actor, ep).await {
                    Ok(_) => {}
                    Err(e) if e.code == 409 => {
                        return Ok(Some(std::time::Duration::from_millis(50)));
                    }
                    Err(e) => return Err(e),
                }
            }
            Some(cur) => {
                let want_subsets = if subsets.is_empty() {
                    None
                } else {
                    Some(json!(subsets))
                };
                if cur.get("subsets").cloned() == want_subsets
                    && cur.pointer("/metadata/labels") == Some(&labels)
                {
                    return Ok(None);
                }
                storage::update(&api, &ep_def, &actor, &key.0, &key.1, None, |ep| {
                    match &want_subsets {
                        Some(s) => ep["subsets"] = s.clone(),
                        None => {
                            if let Some(o) = ep.as_object_mut() {
                                o.remove("subsets");
                            }
                        }
                    }
                    ep["metadata"]["labels"] = labels.clone();
                    true
                })
                .await?;
            }
        }
        Ok(None)
    }
}

/// The EndpointSlice controller (one IPv4 slice per service).
pub struct EndpointSliceController;

impl Controller for EndpointSliceController {
    fn name(&self) -> &'static str {
        "endpointslice"
    }

    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key> {
        service_keys(api, change)
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, "/services")
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let svc_def = storage::def(&api, "", "services")?;
        let es_def = storage::def(&api, "discovery.k8s.io", "endpointslices")?;
        let actor = Actor::system("endpointslice-controller");
        let Some(svc) = storage::get(&api, &svc_def, &key.0, &key.1) else {
            return Ok(None);
        };
        let Some(sel) = selector(&svc) else {
            return Ok(None);
        };
        let svc_name = key.1.clone();
        let slices: Vec<Value> = api
            .store
            .list(
                "discovery.k8s.io/endpointslices",
                Some(&key.0),
                None,
                None,
                |_, o| {
                    o.label(SERVICE_NAME_LABEL) == Some(svc_name.as_str())
                        && o.label(MANAGED_BY) == Some(SLICE_CONTROLLER)
                },
            )
            .items
            .iter()
            .filter_map(|o| o.value().ok())
            .collect();
        let ms = members(&api, &svc, &sel);
        // Without endpoints the slice is upstream's placeholder: no ports at all (a port entry
        // without a number makes clients dereference nil).
        let ports = ms
            .iter()
            .find(|m| !m.ports.is_empty())
            .map(|m| m.ports.clone())
            .unwrap_or_default();
        let endpoints: Vec<Value> = ms
            .iter()
            .map(|m| {
                let mut e = json!({"addresses": [m.ip], "conditions": {"ready": m.ready, "serving": !m.terminating || m.ready, "terminating": m.terminating}, "targetRef": m.target});
                if let Some(n) = &m.node {
                    e["nodeName"] = json!(n);
                }
                if let Some(h) = &m.hostname {
                    e["hostname"] = json!(h);
                }
                e
            })
            .collect();
        let mut labels = svc
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        labels[SERVICE_NAME_LABEL] = json!(key.1);
        labels[MANAGED_BY] = json!(SLICE_CONTROLLER);
        match slices.split_first() {
            None => {
                let es = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"generateName": format!("{}-", key.1), "namespace": key.0, "labels": labels,
                                 "ownerReferences": [owner_ref(&svc, "Service", "v1")]},
                    "addressType": "IPv4", "endpoints": endpoints, "ports": ports});
                storage::create(&api, &es_def, &actor, es).await?;
            }
            Some((first, rest)) => {
                if first.get("endpoints").cloned().unwrap_or(json!([])) != json!(endpoints)
                    || first.get("ports").cloned().unwrap_or(json!([])) != json!(ports)
                {
                    storage::update(
                        &api,
                        &es_def,
                        &actor,
                        &key.0,
                        meta::name(first),
                        None,
                        |es| {
                            es["endpoints"] = json!(endpoints);
                            es["ports"] = json!(ports);
                            es["metadata"]["labels"] = labels.clone();
                            true
                        },
                    )
                    .await?;
                }
                for extra in rest {
                    let _ = delete_object(
                        &api,
                        &es_def,
                        &key.0,
                        meta::name(extra),
                        &DeleteOptions::default(),
                    )
                    .await;
                }
            }
        }
        Ok(None)
    }
}
