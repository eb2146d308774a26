//! The aggregation layer (upstream's kube-aggregator): requests under `/apis/<group>/<version>`
//! of a group-version that an APIService with `spec.service` claims are proxied over HTTPS to
//! that service (`proxy.rs`), presenting the server's front-proxy client certificate and the
//! authenticated user as `X-Remote-*` headers; discovery includes the remote group-versions
//! (`discovery.rs` fetches theirs); the `apiservice-registration` loop checks availability.

pub mod backend;
pub mod discovery;
pub mod proxy;
pub mod state;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::Api;

const APISERVICES: &str = "apiregistration.k8s.io/apiservices";

/// A service-backed APIService.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// APIService name (`<version>.<group>`).
    pub name: String,
    /// Group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Service namespace.
    pub namespace: String,
    /// Service name.
    pub service: String,
    /// Service port.
    pub port: u16,
    /// `spec.caBundle` (base64 of PEM), empty when unset.
    pub ca_bundle: String,
    /// `spec.insecureSkipTLSVerify`.
    pub insecure: bool,
    /// `spec.groupPriorityMinimum`.
    pub group_priority: i64,
    /// `spec.versionPriority`.
    pub version_priority: i64,
    /// Whether the `Available` condition is `True`.
    pub available: bool,
}

impl Remote {
    /// The remote APIService an APIService object describes (`None` for a local one).
    pub fn from_object(obj: &Value) -> Option<Remote> {
        let spec = obj.get("spec")?;
        let svc = spec.get("service").filter(|s| !s.is_null())?;
        let s = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let available = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Available")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            });
        Some(Remote {
            name: crate::meta::name(obj).to_string(),
            group: s(spec, "group"),
            version: s(spec, "version"),
            namespace: s(svc, "namespace"),
            service: s(svc, "name"),
            port: svc
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(443),
            ca_bundle: s(spec, "caBundle"),
            insecure: spec.get("insecureSkipTLSVerify").and_then(Value::as_bool) == Some(true),
            group_priority: spec
                .get("groupPriorityMinimum")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            version_priority: spec
                .get("versionPriority")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            available,
        })
    }
}

/// Every service-backed APIService of a group-version this server does not serve itself,
/// ordered as upstream orders discovery: group priority (highest first), then name.
pub fn remotes(api: &Api) -> Vec<Remote> {
    let mut out: Vec<Remote> = crate::storage::list_values(api, APISERVICES, None)
        .iter()
        .filter_map(Remote::from_object)
        .filter(|r| !r.group.is_empty() && !api.registry.serves_group_version(&r.group, &r.version))
        .collect();
    out.sort_by(|a, b| {
        b.group_priority
            .cmp(&a.group_priority)
            .then_with(|| a.group.cmp(&b.group))
            .then_with(|| b.version_priority.cmp(&a.version_priority))
            .then_with(|| a.version.cmp(&b.version))
    });
    out
}

/// The remote APIService serving `/apis/<group>/<version>/...`, if the path is one.
pub fn remote_for_path(api: &Api, path: &str) -> Option<Remote> {
    let mut parts = path.strip_prefix("/apis/")?.split('/');
    let group = parts.next().filter(|g| !g.is_empty())?;
    let version = parts.next().filter(|v| !v.is_empty())?;
    if api.registry.serves_group_version(group, version) {
        return None;
    }
    let obj = api
        .store
        .get(APISERVICES, "", &format!("{version}.{group}"))
        .and_then(|o| o.value().ok())?;
    Remote::from_object(&obj).filter(|r| r.group == group && r.version == version)
}

/// `groupPriorityMinimum` of every group that has an APIService (the highest of its versions).
pub fn group_priorities(api: &Api) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    for a in crate::storage::list_values(api, APISERVICES, None) {
        let group = a
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let p = a
            .pointer("/spec/groupPriorityMinimum")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let e = out.entry(group.to_string()).or_insert(p);
        *e = (*e).max(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remote_from_object() {
        let local =
            json!({"metadata": {"name": "v1.apps"}, "spec": {"group": "apps", "version": "v1"}});
        assert_eq!(Remote::from_object(&local), None);
        let remote = json!({"metadata": {"name": "v1alpha1.w.io"}, "spec": {"group": "w.io",
            "version": "v1alpha1", "insecureSkipTLSVerify": true, "groupPriorityMinimum": 2000,
            "versionPriority": 200, "service": {"namespace": "ns", "name": "api", "port": 8443}},
            "status": {"conditions": [{"type": "Available", "status": "True"}]}});
        let r = Remote::from_object(&remote);
        assert_eq!(
            r.as_ref().map(|r| (
                r.name.as_str(),
                r.service.as_str(),
                r.port,
                r.insecure,
                r.available
            )),
            Some(("v1alpha1.w.io", "api", 8443, true, true))
        );
    }
}
