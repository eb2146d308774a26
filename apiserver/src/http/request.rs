//! Parsing request paths into what they address, as upstream's RequestInfo does.

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace, when the path has one.
    pub namespace: Option<String>,
    /// Plural resource name.
    pub resource: String,
    /// Object name, when addressed.
    pub name: Option<String>,
    /// Subresource (`status`, `log`, `proxy`...).
    pub subresource: Option<String>,
    /// Path after a `proxy` subresource (`/api/v1/nodes/n/proxy/<rest>`).
    pub proxy_rest: Option<String>,
    /// Legacy `/watch/` path prefix.
    pub legacy_watch: bool,
}

/// What the path is, at the top level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/apis/{group}`.
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`.
    ResourceList {
        /// Group.
        group: String,
        /// Version.
        version: String,
    },
    /// A resource path.
    Resource(RequestInfo),
    /// Anything else (`/version`, `/healthz`, `/openapi/...`).
    Other(String),
}

/// Resources under a namespace path that are subresources of the namespace itself.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Classifies a request path.
pub fn route(path: &str) -> Route {
    let trimmed = path.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').skip(1).collect();
    match parts.as_slice() {
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group(g.to_string()),
        ["api", v] => Route::ResourceList {
            group: String::new(),
            version: v.to_string(),
        },
        ["apis", g, v] => Route::ResourceList {
            group: g.to_string(),
            version: v.to_string(),
        },
        ["api", v, rest @ ..] => resource_route("", v, rest, path),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest, path),
        _ => Route::Other(trimmed.to_string()),
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str], path: &str) -> Route {
    let mut info = RequestInfo {
        group: group.to_string(),
        version: version.to_string(),
        ..Default::default()
    };
    let mut parts: Vec<String> = rest.iter().map(|p| decode(p)).collect();
    if parts.first().map(String::as_str) == Some("watch") {
        info.legacy_watch = true;
        parts.remove(0);
    }
    if parts.first().map(String::as_str) == Some("namespaces")
        && parts.len() > 2
        && !NAMESPACE_SUBRESOURCES.contains(&parts[2].as_str())
    {
        info.namespace = Some(parts[1].clone());
        parts.drain(..2);
    }
    let Some(resource) = parts.first() else {
        return Route::Other(path.to_string());
    };
    info.resource = resource.clone();
    info.name = parts.get(1).cloned();
    info.subresource = parts.get(2).cloned();
    if parts.len() > 3 {
        if info.subresource.as_deref() == Some("proxy") {
            info.proxy_rest = Some(parts[3..].join("/"));
        } else {
            return Route::Other(path.to_string());
        }
    }
    Route::Resource(info)
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// The verb of a resource request, from the method and what the path addresses.
pub fn verb(method: &http::Method, info: &RequestInfo, watch_param: bool) -> &'static str {
    let named = info.name.is_some();
    match *method {
        http::Method::GET | http::Method::HEAD => {
            if info.legacy_watch
                || (watch_param && !named)
                || (watch_param && info.subresource.is_none())
            {
                "watch"
            } else if named {
                "get"
            } else {
                "list"
            }
        }
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => {
            if named {
                "delete"
            } else {
                "deletecollection"
            }
        }
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> RequestInfo {
        match route(path) {
            Route::Resource(i) => i,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_like_upstream() {
        let i = res("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(
            (
                i.namespace.as_deref(),
                i.resource.as_str(),
                i.name.as_deref(),
                i.subresource.as_deref()
            ),
            (Some("default"), "pods", Some("web"), Some("status"))
        );
        let i = res("/api/v1/namespaces/default");
        assert_eq!(
            (i.namespace, i.resource.as_str(), i.name.as_deref()),
            (None, "namespaces", Some("default"))
        );
        let i = res("/api/v1/namespaces/default/finalize");
        assert_eq!(
            (i.name.as_deref(), i.subresource.as_deref()),
            (Some("default"), Some("finalize"))
        );
        let i = res("/apis/apps/v1/deployments");
        assert_eq!(
            (i.group.as_str(), i.resource.as_str(), i.name),
            ("apps", "deployments", None)
        );
        let i = res("/api/v1/watch/namespaces/x/pods");
        assert!(i.legacy_watch);
        assert_eq!(i.namespace.as_deref(), Some("x"));
        let i = res("/api/v1/nodes/n1/proxy/stats/summary");
        assert_eq!(i.proxy_rest.as_deref(), Some("stats/summary"));
        assert_eq!(route("/apis/apps"), Route::Group("apps".into()));
        assert_eq!(route("/version"), Route::Other("/version".into()));
    }
}
