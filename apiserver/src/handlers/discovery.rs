//! Discovery documents: `/api`, `/api/v1`, `/apis`, `/apis/{group}`, `/apis/{group}/{version}`.

use http::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};

use crate::api::Api;
use crate::error::ApiError;
use crate::http::response::{self, Body, Encoding};

fn group_json(api: &Api, group: &str) -> Value {
    let versions: Vec<Value> = api
        .registry
        .group_versions(group)
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
    let groups: Vec<Value> = api
        .registry
        .groups()
        .iter()
        .map(|g| group_json(api, g))
        .collect();
    let v = json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups});
    response::object(StatusCode::OK, &v, enc)
}

/// `/apis/{group}`.
pub fn group(api: &Api, group: &str, enc: Encoding) -> Response<Body> {
    if api.registry.group_versions(group).is_empty() {
        return response::error(&ApiError::no_route());
    }
    let mut v = group_json(api, group);
    if let Some(o) = v.as_object_mut() {
        o.insert("kind".into(), json!("APIGroup"));
        o.insert("apiVersion".into(), json!("v1"));
    }
    response::object(StatusCode::OK, &v, enc)
}

/// `/api/v1`, `/apis/{group}/{version}`.
pub fn resource_list(api: &Api, group: &str, version: &str, enc: Encoding) -> Response<Body> {
    if !api.registry.serves_group_version(group, version) {
        return response::error(&ApiError::no_route());
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
