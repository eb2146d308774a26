//! Recording the requests each component makes to the super cluster: the authorization
//! attributes (verb, API group, resource, subresource, namespace, name) of every distinct
//! request, per component. The manifests' RBAC is checked against this record, so what a role
//! must allow is derived from what the code really does.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// What an authorizer sees of one request (upstream's `RequestInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// Whether the path addresses an API resource (else a non-resource URL like `/version`).
    pub resource_request: bool,
    /// API group (`""` for the core group).
    pub api_group: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource (`status`, `binding`, ...).
    pub subresource: Option<String>,
    /// Namespace of the request.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// The path of a non-resource request.
    pub path: Option<String>,
}

/// One distinct request of one component.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Recorded {
    /// Component (`vc-manager`, `syncer`, `vn-agent`).
    pub component: String,
    /// The user it authenticated as.
    pub user: String,
    /// What it asked for.
    pub attributes: Attributes,
}

const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

impl Attributes {
    /// The attributes of a request, as kube-apiserver derives them from method, path and query.
    pub fn of(method: &http::Method, path: &str, query: Option<&str>) -> Attributes {
        let watch_param = query.is_some_and(|q| {
            q.split('&')
                .any(|kv| matches!(kv, "watch=true" | "watch=1" | "watch=True"))
        });
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (group, rest) = match parts.as_slice() {
            ["api", _version, rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (*group, rest),
            _ => return Self::non_resource(method, path),
        };
        let (legacy_watch, rest) = match rest {
            ["watch", rest @ ..] => (true, rest),
            _ => (false, rest),
        };
        if rest.is_empty() {
            return Self::non_resource(method, path);
        }
        let mut namespace = None;
        let mut rest = rest;
        if rest[0] == "namespaces" && rest.len() > 1 {
            namespace = Some(rest[1].to_string());
            if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
                rest = &rest[2..];
            }
        }
        let resource = rest[0].to_string();
        let name = rest.get(1).map(|s| s.to_string());
        let subresource = rest.get(2).map(|s| s.to_string());
        let verb = match *method {
            http::Method::GET | http::Method::HEAD => {
                if legacy_watch || watch_param {
                    "watch"
                } else if name.is_some() {
                    "get"
                } else {
                    "list"
                }
            }
            http::Method::POST => "create",
            http::Method::PUT => "update",
            http::Method::PATCH => "patch",
            http::Method::DELETE if name.is_some() => "delete",
            http::Method::DELETE => "deletecollection",
            _ => "unknown",
        };
        Attributes {
            verb: verb.to_string(),
            resource_request: true,
            api_group: group.to_string(),
            resource,
            subresource,
            namespace,
            name,
            path: None,
        }
    }

    fn non_resource(method: &http::Method, path: &str) -> Attributes {
        Attributes {
            verb: method.as_str().to_ascii_lowercase(),
            resource_request: false,
            api_group: String::new(),
            resource: String::new(),
            subresource: None,
            namespace: None,
            name: None,
            path: Some(path.to_string()),
        }
    }

    /// `resource` or `resource/subresource`, as RBAC rules name them.
    pub fn rbac_resource(&self) -> String {
        match &self.subresource {
            Some(s) => format!("{}/{s}", self.resource),
            None => self.resource.clone(),
        }
    }
}

#[derive(Default)]
struct Inner {
    seen: HashSet<Recorded>,
    order: Vec<Recorded>,
    file: Option<std::fs::File>,
}

/// The distinct requests of every component (cheap to clone; clones share the record).
#[derive(Clone, Default)]
pub struct RequestLog {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLog").finish_non_exhaustive()
    }
}

impl RequestLog {
    /// A record kept in memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// A record that is also appended to `path`, one JSON object per line.
    pub fn with_file(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let log = Self::default();
        if let Ok(mut inner) = log.inner.lock() {
            inner.file = Some(file);
        }
        Ok(log)
    }

    /// Reads a file written by [`RequestLog::with_file`].
    pub fn read_file(path: &Path) -> std::io::Result<Vec<Recorded>> {
        let text = std::fs::read_to_string(path)?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
            .collect()
    }

    /// Records one request (only the first of equal ones is kept).
    pub fn record(&self, component: &str, user: &str, attributes: Attributes) {
        let rec = Recorded {
            component: component.to_string(),
            user: user.to_string(),
            attributes,
        };
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if !inner.seen.insert(rec.clone()) {
            return;
        }
        if let Some(f) = inner.file.as_mut()
            && let Ok(line) = serde_json::to_string(&rec)
            && let Err(e) = writeln!(f, "{line}")
        {
            tracing::warn!(error = %e, "cannot append to the request log");
        }
        inner.order.push(rec);
    }

    /// Every distinct request so far, in the order first seen.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner
            .lock()
            .map(|i| i.order.clone())
            .unwrap_or_default()
    }

    /// A client middleware recording the requests of `component`, authenticated as `user`.
    pub fn layer(
        &self,
        component: &str,
        user: &str,
    ) -> tower::util::MapRequestLayer<
        impl FnMut(http::Request<kube::client::Body>) -> http::Request<kube::client::Body>
        + Clone
        + use<>,
    > {
        let log = self.clone();
        let component = component.to_string();
        let user = user.to_string();
        tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
            let attrs = Attributes::of(req.method(), req.uri().path(), req.uri().query());
            log.record(&component, &user, attrs);
            req
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn a(m: Method, p: &str, q: Option<&str>) -> Attributes {
        Attributes::of(&m, p, q)
    }

    #[test]
    fn derives_upstream_request_attributes() {
        let x = a(
            Method::GET,
            "/api/v1/namespaces/ns1/pods",
            Some("watch=true&resourceVersion=5"),
        );
        assert_eq!(
            (
                x.verb.as_str(),
                x.api_group.as_str(),
                x.resource.as_str(),
                x.namespace.as_deref()
            ),
            ("watch", "", "pods", Some("ns1"))
        );
        let x = a(Method::POST, "/api/v1/namespaces/ns1/pods/p/binding", None);
        assert_eq!(
            (x.verb.as_str(), x.rbac_resource()),
            ("create", "pods/binding".into())
        );
        assert_eq!(x.name.as_deref(), Some("p"));
        let x = a(
            Method::PATCH,
            "/apis/tenancy.x-k8s.io/v1alpha1/namespaces/d/virtualclusters/v/status",
            None,
        );
        assert_eq!(
            (x.verb.as_str(), x.api_group.as_str(), x.rbac_resource()),
            ("patch", "tenancy.x-k8s.io", "virtualclusters/status".into())
        );
        let x = a(Method::GET, "/api/v1/namespaces/foo", None);
        assert_eq!(
            (x.verb.as_str(), x.resource.as_str(), x.name.as_deref()),
            ("get", "namespaces", Some("foo"))
        );
        let x = a(Method::PUT, "/api/v1/namespaces/foo/finalize", None);
        assert_eq!(x.rbac_resource(), "namespaces/finalize");
        let x = a(Method::GET, "/api/v1/nodes", None);
        assert_eq!((x.verb.as_str(), x.namespace), ("list", None));
        let x = a(Method::DELETE, "/api/v1/namespaces/n/secrets", None);
        assert_eq!(x.verb, "deletecollection");
        let x = a(Method::GET, "/api/v1/watch/namespaces/n/pods", None);
        assert_eq!(x.verb, "watch");
        let x = a(Method::GET, "/version", None);
        assert!(!x.resource_request);
        assert_eq!(x.path.as_deref(), Some("/version"));
        let x = a(Method::GET, "/apis/apps/v1", None);
        assert!(!x.resource_request);
    }

    #[test]
    fn keeps_distinct_requests_once_and_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.jsonl");
        let log = RequestLog::with_file(&path).unwrap();
        let get = a(Method::GET, "/api/v1/nodes/n1", None);
        log.record("syncer", "u", get.clone());
        log.record("syncer", "u", get.clone());
        log.record("vn-agent", "v", get);
        assert_eq!(log.requests().len(), 2);
        assert_eq!(RequestLog::read_file(&path).unwrap(), log.requests());
    }
}
