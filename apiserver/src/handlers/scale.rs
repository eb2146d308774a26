//! The `scale` subresource of workloads and custom resources.

use std::sync::Arc;

use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::write::{self, Change};
use crate::api::Api;
use crate::error::{ApiError, ApiResult};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::meta;
use crate::registry::ResourceDef;
use crate::storage::{target, to_served};

/// The `/scale` subresource of deployments, replicasets, statefulsets, replicationcontrollers and
/// custom resources that declare it.
pub(super) async fn scale(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
    name: &str,
) -> ApiResult<Response<Body>> {
    let ns = r.info.namespace.clone().unwrap_or_default();
    let paths = scale_paths(def);
    let cur = api
        .store
        .get(&def.storage, &ns, name)
        .ok_or_else(|| ApiError::not_found(target(def, name)))?;
    let obj = to_served(
        def,
        cur.value().map_err(|e| ApiError::internal(e.to_string()))?,
    );
    let current_scale = scale_of(&obj, &paths);
    if r.method == Method::GET {
        return Ok(response::object(StatusCode::OK, &current_scale, r.enc));
    }
    let desired = match r.method {
        Method::PUT => r.json_body().await?,
        Method::PATCH => {
            let ct = r.header("content-type").unwrap_or_default().to_string();
            let body = r.bytes().await?;
            let scale_def = crate::storage::def(api, "autoscaling", "horizontalpodautoscalers")
                .map(|d| ResourceDef {
                    group: "autoscaling".into(),
                    version: "v1".into(),
                    kind: "Scale".into(),
                    crd: None,
                    ..(*d).clone()
                })?;
            super::patch::apply_patch(&scale_def, r, &current_scale, &ct, &body, None)?.0
        }
        _ => {
            return Err(ApiError::method_not_allowed(
                r.method.as_str(),
                target(def, name),
            ));
        }
    };
    let replicas = desired
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("scale: spec.replicas is required"))?;
    let mut patch = json!({});
    set_path(&mut patch, &paths.0, json!(replicas));
    if let Some(rv) = meta::resource_version(&desired) {
        meta::meta_mut(&mut patch).insert("resourceVersion".into(), json!(rv));
    }
    let body = bytes::Bytes::from(patch.to_string());
    let resp = write::apply_change(
        api,
        def,
        r,
        None,
        Change::Patch {
            content_type: super::patch::MERGE_PATCH.to_string(),
            body,
        },
    )
    .await?;
    let status = resp.status();
    let updated = api
        .store
        .get(&def.storage, &ns, name)
        .and_then(|o| o.value().ok())
        .map(|v| to_served(def, v))
        .unwrap_or(obj);
    Ok(response::object(status, &scale_of(&updated, &paths), r.enc))
}

/// (spec replicas path, status replicas path, selector path) as dotted paths.
fn scale_paths(def: &ResourceDef) -> (String, String, Option<String>) {
    if let Some(s) = def.crd.as_ref().and_then(|c| c.scale.as_ref()) {
        return (
            s.spec_replicas.trim_start_matches('.').to_string(),
            s.status_replicas.trim_start_matches('.').to_string(),
            s.label_selector
                .as_ref()
                .map(|p| p.trim_start_matches('.').to_string()),
        );
    }
    (
        "spec.replicas".into(),
        "status.replicas".into(),
        Some("spec.selector".into()),
    )
}

fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, p| cur.get(p))
}

fn set_path(v: &mut Value, path: &str, val: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = v;
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(o) = cur.as_object_mut() else { return };
        if i == parts.len() - 1 {
            o.insert((*p).to_string(), val);
            return;
        }
        cur = o.entry((*p).to_string()).or_insert_with(|| json!({}));
    }
}

fn scale_of(obj: &Value, paths: &(String, String, Option<String>)) -> Value {
    let spec = get_path(obj, &paths.0).and_then(Value::as_i64).unwrap_or(0);
    let status = get_path(obj, &paths.1).and_then(Value::as_i64).unwrap_or(0);
    let selector = paths
        .2
        .as_deref()
        .and_then(|p| get_path(obj, p))
        .map(|s| match s {
            Value::String(s) => s.clone(),
            other => selector_string(other),
        })
        .unwrap_or_default();
    let m = obj.get("metadata").cloned().unwrap_or(json!({}));
    let mut status_obj = json!({"replicas": status});
    if !selector.is_empty() {
        status_obj["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"),
            "namespace": m.get("namespace"),
            "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"),
            "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": spec},
        "status": status_obj,
    })
}

/// A `metav1.LabelSelector` rendered as a selector string (`a=b,c in (d)`).
pub fn selector_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    if let Some(me) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in me {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let vals: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default()
            {
                "In" => parts.push(format!("{key} in ({})", vals.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.sort();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_strings() {
        let s = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]});
        assert_eq!(selector_string(&s), "app=web,tier in (a,b)");
    }

    #[test]
    fn scale_object() {
        let obj = json!({"metadata": {"name": "d", "namespace": "n"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"a": "b"}}}, "status": {"replicas": 2}});
        let s = scale_of(
            &obj,
            &(
                "spec.replicas".into(),
                "status.replicas".into(),
                Some("spec.selector".into()),
            ),
        );
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["selector"], "a=b");
    }
}
