//! What a request asks to do, derived from its method, path and query as upstream's
//! `RequestInfoFactory` derives it (authorization sees this, not the routed handler's view).

use std::collections::HashMap;

use crate::auth::User;

/// The object part of a resource request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource ("" for none).
    pub subresource: String,
    /// Namespace ("" for cluster scope).
    pub namespace: String,
    /// Object name ("" when not addressed).
    pub name: String,
}

/// A request as an authorizer sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Who asks.
    pub user: User,
    /// `get`, `list`, `watch`, `create`, ..., or for non-resource paths the lowercase method.
    pub verb: String,
    /// The resource part, `None` for a non-resource request.
    pub resource: Option<ResourceAttributes>,
    /// The request path (what non-resource rules match).
    pub path: String,
}

/// Subresources of a namespace, addressed as `/namespaces/{name}/{sub}`.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

fn is_true(v: Option<&String>) -> bool {
    matches!(
        v.map(String::as_str),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True")
    )
}

/// The name a field selector pins down exactly (`metadata.name=x`), as upstream uses it.
fn selected_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let term = term.trim();
        let (k, v) = term
            .split_once("==")
            .or_else(|| term.split_once('='))
            .filter(|(k, _)| !k.ends_with('!'))?;
        (k.trim() == "metadata.name" && !v.is_empty() && !v.contains('/'))
            .then(|| v.trim().to_string())
    })
}

impl Attributes {
    /// A non-resource request.
    pub fn non_resource(user: User, verb: &str, path: &str) -> Self {
        Attributes {
            user,
            verb: verb.to_string(),
            resource: None,
            path: path.to_string(),
        }
    }

    /// Derives the attributes of an HTTP request (`path` undecoded, as received).
    pub fn from_request(
        user: User,
        method: &http::Method,
        path: &str,
        query: &HashMap<String, String>,
    ) -> Self {
        let parts: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let non_resource =
            || Self::non_resource(user.clone(), &method.as_str().to_lowercase(), path);
        if parts.len() < 3 || !matches!(parts[0].as_str(), "api" | "apis") {
            return non_resource();
        }
        let mut rest: &[String] = &parts[1..];
        let mut r = ResourceAttributes::default();
        if parts[0] == "apis" {
            if rest.len() < 3 {
                return non_resource();
            }
            r.group = rest[0].clone();
            rest = &rest[1..];
        }
        r.version = rest[0].clone();
        rest = &rest[1..];
        let verb = match rest.first().map(String::as_str) {
            Some(special @ ("proxy" | "watch")) => {
                if rest.len() < 2 {
                    return non_resource();
                }
                rest = &rest[1..];
                special
            }
            _ => match *method {
                http::Method::POST => "create",
                http::Method::GET | http::Method::HEAD => "get",
                http::Method::PUT => "update",
                http::Method::PATCH => "patch",
                http::Method::DELETE => "delete",
                _ => "",
            },
        };
        let mut verb = verb.to_string();
        if rest.first().map(String::as_str) == Some("namespaces") && rest.len() > 1 {
            r.namespace = rest[1].clone();
            if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2].as_str()) {
                rest = &rest[2..];
            }
        }
        if rest.len() >= 3 && verb != "proxy" {
            r.subresource = rest[2].clone();
        }
        if rest.len() >= 2 {
            r.name = rest[1].clone();
        }
        if let Some(res) = rest.first() {
            r.resource = res.clone();
        }
        if r.name.is_empty() && verb == "get" {
            verb = if is_true(query.get("watch")) {
                "watch".into()
            } else {
                "list".into()
            };
            if let Some(n) = query.get("fieldSelector").and_then(|s| selected_name(s)) {
                r.name = n;
            }
        }
        if r.name.is_empty() && verb == "delete" {
            verb = "deletecollection".into();
        }
        Attributes {
            user,
            verb,
            resource: Some(r),
            path: path.to_string(),
        }
    }

    /// The namespace the request is in ("" for cluster scope and non-resource requests).
    pub fn namespace(&self) -> &str {
        self.resource
            .as_ref()
            .map(|r| r.namespace.as_str())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: http::Method, path: &str, query: &[(&str, &str)]) -> Attributes {
        let q = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Attributes::from_request(User::default(), &method, path, &q)
    }

    fn short(a: &Attributes) -> (String, String, String, String, String, String) {
        let r = a.resource.clone().unwrap_or_default();
        (
            a.verb.clone(),
            r.group,
            r.resource,
            r.subresource,
            r.namespace,
            r.name,
        )
    }

    fn t(
        v: &str,
        g: &str,
        r: &str,
        s: &str,
        ns: &str,
        n: &str,
    ) -> (String, String, String, String, String, String) {
        (v.into(), g.into(), r.into(), s.into(), ns.into(), n.into())
    }

    #[test]
    fn verbs_and_objects_like_upstream() {
        use http::Method as M;
        let a = attrs(M::GET, "/api/v1/namespaces/ns1/pods", &[]);
        assert_eq!(short(&a), t("list", "", "pods", "", "ns1", ""));
        let a = attrs(M::GET, "/api/v1/pods", &[("watch", "true")]);
        assert_eq!(short(&a), t("watch", "", "pods", "", "", ""));
        let a = attrs(M::GET, "/api/v1/watch/namespaces/a/pods/p", &[]);
        assert_eq!(short(&a), t("watch", "", "pods", "", "a", "p"));
        let a = attrs(
            M::GET,
            "/api/v1/namespaces/a/pods",
            &[("watch", "1"), ("fieldSelector", "metadata.name=web")],
        );
        assert_eq!(short(&a), t("watch", "", "pods", "", "a", "web"));
        let a = attrs(M::DELETE, "/apis/apps/v1/namespaces/a/deployments", &[]);
        assert_eq!(
            short(&a),
            t("deletecollection", "apps", "deployments", "", "a", "")
        );
        let a = attrs(
            M::PATCH,
            "/apis/apps/v1/namespaces/a/deployments/d/scale",
            &[],
        );
        assert_eq!(
            short(&a),
            t("patch", "apps", "deployments", "scale", "a", "d")
        );
        let a = attrs(M::POST, "/api/v1/namespaces/a/pods/web/exec", &[]);
        assert_eq!(short(&a), t("create", "", "pods", "exec", "a", "web"));
        let a = attrs(M::GET, "/api/v1/namespaces/default", &[]);
        assert_eq!(
            short(&a),
            t("get", "", "namespaces", "", "default", "default")
        );
        let a = attrs(M::PUT, "/api/v1/namespaces/x/finalize", &[]);
        assert_eq!(
            short(&a),
            t("update", "", "namespaces", "finalize", "x", "x")
        );
        let a = attrs(M::GET, "/api/v1/nodes/n1/proxy/stats/summary", &[]);
        assert_eq!(short(&a), t("get", "", "nodes", "proxy", "", "n1"));
    }

    #[test]
    fn discovery_and_other_paths_are_non_resource() {
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/healthz",
            "/openapi/v2",
        ] {
            let a = attrs(http::Method::GET, p, &[]);
            assert!(a.resource.is_none(), "{p}");
            assert_eq!((a.verb.as_str(), a.path.as_str()), ("get", p));
        }
        assert_eq!(attrs(http::Method::POST, "/metrics", &[]).verb, "post");
    }
}
