//! Discovery documents: `/api`, `/api/v1`, `/apis`, `/apis/{group}`, `/apis/{group}/{version}`.

use http::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};

use crate::aggregator::Remote;
use crate::api::Api;
use crate::http::response::{self, Body, Encoding};

/// Versions of a group: the local ones, then those of service-backed APIServices.
fn all_versions(api: &Api, group: &str, remotes: &[Remote]) -> Vec<String> {
    let mut out = api.registry.group_versions(group);
    for r in remotes.iter().filter(|r| r.group == group) {
        if !out.contains(&r.version) {
            out.push(r.version.clone());
        }
    }
    out
}

/// Every group, local and aggregated, in upstream's order: by `groupPriorityMinimum` (highest
/// first; a local group without an APIService yet keeps its place ahead).
fn all_groups(api: &Api, remotes: &[Remote]) -> Vec<String> {
    let mut groups = api.registry.groups();
    for r in remotes {
        if !groups.contains(&r.group) {
            groups.push(r.group.clone());
        }
    }
    if remotes.is_empty() {
        return groups;
    }
    let priorities = crate::aggregator::group_priorities(api);
    groups.sort_by_key(|g| std::cmp::Reverse(priorities.get(g).copied().unwrap_or(i64::MAX)));
    groups
}

fn group_json(api: &Api, group: &str, remotes: &[Remote]) -> Value {
    let versions: Vec<Value> = all_versions(api, group, remotes)
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

fn server_address(api: &Api, headers: &HeaderMap) -> String {
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| api.settings.advertise.clone())
}

/// `/api`.
pub fn core_versions(api: &Api, headers: &HeaderMap, enc: Encoding) -> Response<Body> {
    let v = json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address(api, headers)}],
    });
    response::object(StatusCode::OK, &v, enc)
}

/// `/apis`.
pub fn groups(api: &Api, _headers: &HeaderMap, enc: Encoding) -> Response<Body> {
    let remotes = crate::aggregator::remotes(api);
    let groups: Vec<Value> = all_groups(api, &remotes)
        .iter()
        .map(|g| group_json(api, g, &remotes))
        .collect();
    let v = json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups});
    response::object(StatusCode::OK, &v, enc)
}

/// `/apis/{group}`.
pub fn group(api: &Api, group: &str, enc: Encoding) -> Response<Body> {
    let remotes = crate::aggregator::remotes(api);
    if all_versions(api, group, &remotes).is_empty() {
        return response::page_not_found();
    }
    let mut v = group_json(api, group, &remotes);
    if let Some(o) = v.as_object_mut() {
        o.insert("kind".into(), json!("APIGroup"));
        o.insert("apiVersion".into(), json!("v1"));
    }
    response::object(StatusCode::OK, &v, enc)
}

/// `/api/v1`, `/apis/{group}/{version}`.
pub fn resource_list(api: &Api, group: &str, version: &str, enc: Encoding) -> Response<Body> {
    if !api.registry.serves_group_version(group, version) {
        return response::page_not_found();
    }
    let resources: Vec<Value> = api
        .registry
        .resources_of(group, version)
        .iter()
        .flat_map(|d| d.discovery_entries())
        .collect();
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let v = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources});
    response::object(StatusCode::OK, &v, enc)
}

/// Which aggregated-discovery version the client accepts first, if any (`v2` or `v2beta1`).
pub fn aggregated_version(accept: Option<&str>) -> Option<&'static str> {
    let accept = accept?;
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or_default();
        if media != "application/json" {
            continue;
        }
        let (mut g, mut v, mut as_) = (None, None, None);
        for p in params {
            match p.split_once('=') {
                Some(("g", x)) => g = Some(x),
                Some(("v", x)) => v = Some(x),
                Some(("as", x)) => as_ = Some(x),
                _ => {}
            }
        }
        let as_ = as_?;
        if as_ == "APIGroupDiscoveryList" && g == Some("apidiscovery.k8s.io") {
            match v {
                Some("v2") => return Some("v2"),
                Some("v2beta1") => return Some("v2beta1"),
                _ => {}
            }
        }
    }
    None
}

/// A remote group-version as the aggregator last fetched it (`Stale` when the last fetch
/// failed; no resources when none ever succeeded).
fn remote_version(api: &Api, r: &Remote) -> Value {
    let d = api.aggregator.discovery(&r.name).unwrap_or_default();
    let fresh = if d.fresh { "Current" } else { "Stale" };
    let mut v = json!({"version": r.version, "freshness": fresh});
    if let Some(res) = d.resources.filter(|res| !res.is_empty()) {
        v["resources"] = json!(res);
    }
    v
}

fn group_discovery(api: &Api, group: &str, remotes: &[Remote]) -> Value {
    let versions: Vec<Value> = api
        .registry
        .group_versions(group)
        .iter()
        .map(|v| {
            let resources: Vec<Value> = api
                .registry
                .resources_of(group, v)
                .iter()
                .map(|d| {
                    let subs: Vec<Value> = d
                        .subresources
                        .iter()
                        .map(|s| {
                            let kind = if s.kind.is_empty() { d.kind.as_str() } else { s.kind };
                            let g = if s.group.is_empty() { d.group.as_str() } else { s.group };
                            let ver = if s.version.is_empty() { d.version.as_str() } else { s.version };
                            json!({"subresource": s.name, "responseKind": {"group": g, "version": ver, "kind": kind}, "verbs": s.verbs})
                        })
                        .collect();
                    let mut r = json!({
                        "resource": d.resource,
                        "responseKind": {"group": d.group, "version": d.version, "kind": d.kind},
                        "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": d.singular,
                        "verbs": d.verbs,
                    });
                    if !d.short_names.is_empty() {
                        r["shortNames"] = json!(d.short_names);
                    }
                    if !d.categories.is_empty() {
                        r["categories"] = json!(d.categories);
                    }
                    if !subs.is_empty() {
                        r["subresources"] = json!(subs);
                    }
                    r
                })
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .chain(remotes.iter().filter(|r| r.group == group).map(|r| remote_version(api, r)))
        .collect();
    let mut meta = json!({"creationTimestamp": null});
    if !group.is_empty() {
        meta["name"] = json!(group);
    }
    json!({"metadata": meta, "versions": versions})
}

/// `/api` or `/apis` as an aggregated `APIGroupDiscoveryList`.
pub fn aggregated(api: &Api, core: bool, version: &str, headers: &HeaderMap) -> Response<Body> {
    let items: Vec<Value> = if core {
        vec![group_discovery(api, "", &[])]
    } else {
        let remotes = crate::aggregator::remotes(api);
        all_groups(api, &remotes)
            .iter()
            .map(|g| group_discovery(api, g, &remotes))
            .collect()
    };
    let doc = json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"), "metadata": {}, "items": items});
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    use sha2::Digest;
    let etag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(&body)[..16]));
    let content_type =
        format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    let not_modified = headers
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut resp = if not_modified {
        let mut r = Response::new(response::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(response::full(body))
    };
    let h = resp.headers_mut();
    if let Ok(v) = http::HeaderValue::from_str(&content_type) {
        h.insert(http::header::CONTENT_TYPE, v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&etag) {
        h.insert(http::header::ETAG, v);
    }
    h.insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
    resp
}
