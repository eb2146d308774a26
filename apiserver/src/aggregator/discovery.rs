//! What the aggregator asks of an aggregated API server: its discovery of the APIService's
//! group-version (aggregated discovery first, the legacy `APIResourceList` converted when the
//! backend answers that with 406, as upstream v1.28 does), and the availability check (`GET /apis/<group>/<version>`, five tries at
//! once, one success enough), worded as upstream's availability controller words failures.

use std::time::Duration;

use serde_json::{Value, json};

use super::Remote;
use super::backend;
use crate::api::Api;

/// What the aggregator asks a backend's `/apis` for.
const ACCEPT_AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
/// How long one availability try may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(6);
/// How long one discovery fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of one availability check.
const ATTEMPTS: usize = 5;

fn gv_path(remote: &Remote) -> String {
    format!("/apis/{}/{}", remote.group, remote.version)
}

/// A legacy `APIResourceList`'s resources as aggregated discovery's `APIResourceDiscovery`
/// entries (subresources under their parent), as upstream converts them.
pub fn convert_legacy(list: &Value) -> Vec<Value> {
    let items = list
        .get("resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let s = |r: &Value, k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let kind_of = |r: &Value| json!({"group": s(r, "group"), "version": s(r, "version"), "kind": s(r, "kind")});
    let mut out: Vec<Value> = Vec::new();
    for r in items.iter().filter(|r| !s(r, "name").contains('/')) {
        let mut d = json!({
            "resource": s(r, "name"),
            "responseKind": kind_of(r),
            "scope": if r.get("namespaced").and_then(Value::as_bool) == Some(true) { "Namespaced" } else { "Cluster" },
            "singularResource": s(r, "singularName"),
            "verbs": r.get("verbs").cloned().unwrap_or_else(|| json!([])),
        });
        for k in ["shortNames", "categories"] {
            if let Some(v) = r
                .get(k)
                .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
            {
                d[k] = v.clone();
            }
        }
        out.push(d);
    }
    for r in items.iter() {
        let name = s(r, "name");
        let Some((parent, sub)) = name.split_once('/') else {
            continue;
        };
        let entry = json!({"subresource": sub, "responseKind": kind_of(r),
            "verbs": r.get("verbs").cloned().unwrap_or_else(|| json!([]))});
        if let Some(p) = out
            .iter_mut()
            .find(|d| d.get("resource").and_then(Value::as_str) == Some(parent))
        {
            match p.get_mut("subresources").and_then(Value::as_array_mut) {
                Some(subs) => subs.push(entry),
                None => p["subresources"] = json!([entry]),
            }
        }
    }
    out
}

/// The group-version's entry in an `APIGroupDiscoveryList`.
fn from_aggregated(doc: &Value, group: &str, version: &str) -> Vec<Value> {
    doc.get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|g| g.pointer("/metadata/name").and_then(Value::as_str) == Some(group))
        .flat_map(|g| {
            g.get("versions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .find(|v| v.get("version").and_then(Value::as_str) == Some(version))
        .and_then(|v| v.get("resources").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

/// Fetches the discovery of the APIService's group-version; `None` when the backend cannot
/// answer (the APIService is unavailable, or both discovery endpoints fail).
pub async fn fetch(api: &Api, remote: &Remote) -> Option<Vec<Value>> {
    if !remote.available {
        return None;
    }
    let target = backend::resolve(api, remote).ok()?;
    let fetch = async {
        // As upstream v1.28: any 200 is read as aggregated discovery (a legacy
        // `APIGroupList` reads as one without the group: no resources), only a 406 falls back
        // to the legacy `APIResourceList`, anything else is a failed fetch.
        let (status, _, body) = backend::get(&target, "/apis", ACCEPT_AGGREGATED)
            .await
            .ok()?;
        if status == http::StatusCode::OK {
            let doc: Value = serde_json::from_slice(&body).ok()?;
            return Some(from_aggregated(&doc, &remote.group, &remote.version));
        }
        if status != http::StatusCode::NOT_ACCEPTABLE {
            return None;
        }
        let (status, _, body) = backend::get(&target, &gv_path(remote), "application/json")
            .await
            .ok()?;
        if !status.is_success() {
            return None;
        }
        let list: Value = serde_json::from_slice(&body).ok()?;
        Some(convert_legacy(&list))
    };
    tokio::time::timeout(FETCH_TIMEOUT, fetch)
        .await
        .ok()
        .flatten()
}

async fn check_once(api: &Api, remote: &Remote) -> Result<(), String> {
    let target = backend::resolve(api, remote).map_err(|e| e.to_string())?;
    let path = gv_path(remote);
    let url = format!("{}{path}", target.base_url());
    let call = backend::get(&target, &path, "application/json, */*");
    match tokio::time::timeout(CHECK_TIMEOUT, call).await {
        Err(_) => Err(format!("timed out waiting for {url}")),
        Ok(Err(e)) => Err(format!(
            "failing or missing response from {url}: Get {url:?}: {e}"
        )),
        Ok(Ok((status, _, _))) if !(200..300).contains(&status.as_u16()) => Err(format!(
            "failing or missing response from {url}: bad status from {url}: {}",
            status.as_u16()
        )),
        Ok(Ok(_)) => Ok(()),
    }
}

/// Upstream's discovery check of a service-backed APIService: `Err` carries the message of
/// its `FailedDiscoveryCheck` condition.
pub async fn check(api: &Api, remote: &Remote) -> Result<(), String> {
    let tries = (0..ATTEMPTS).map(|_| check_once(api, remote));
    let results = futures::future::join_all(tries).await;
    match results.iter().find(|r| r.is_ok()) {
        Some(_) => Ok(()),
        None => results.into_iter().last().unwrap_or(Ok(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_lists_convert_as_upstream() {
        let list = json!({"kind": "APIResourceList", "groupVersion": "w.io/v1", "resources": [
            {"name": "flunders", "singularName": "flunder", "namespaced": true, "kind": "Flunder",
             "verbs": ["get", "list"], "shortNames": ["fl"]},
            {"name": "flunders/status", "singularName": "", "namespaced": true, "kind": "Flunder",
             "verbs": ["get"]},
            {"name": "fischers", "singularName": "fischer", "namespaced": false, "kind": "Fischer",
             "verbs": ["get"], "categories": []}]});
        let got = convert_legacy(&list);
        assert_eq!(
            got,
            vec![
                json!({"resource": "flunders", "singularResource": "flunder", "scope": "Namespaced",
                "responseKind": {"group": "", "version": "", "kind": "Flunder"},
                "verbs": ["get", "list"], "shortNames": ["fl"],
                "subresources": [{"subresource": "status", "verbs": ["get"],
                    "responseKind": {"group": "", "version": "", "kind": "Flunder"}}]}),
                json!({"resource": "fischers", "singularResource": "fischer", "scope": "Cluster",
                "responseKind": {"group": "", "version": "", "kind": "Fischer"}, "verbs": ["get"]}),
            ]
        );
        let agg = json!({"items": [{"metadata": {"name": "w.io"}, "versions": [
            {"version": "v2", "resources": []}, {"version": "v1", "resources": got.clone()}]}]});
        assert_eq!(from_aggregated(&agg, "w.io", "v1"), got);
        assert!(from_aggregated(&agg, "x.io", "v1").is_empty());
    }
}
