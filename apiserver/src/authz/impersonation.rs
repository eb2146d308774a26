//! `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and `Impersonate-Extra-*`
//! (kubectl `--as`, `--as-group`, `--as-uid`): each impersonated attribute needs verb
//! `impersonate` on it, and the request then runs as the impersonated user, as upstream's
//! impersonation filter does.

use std::collections::BTreeMap;

use http::HeaderMap;

use super::attributes::{Attributes, ResourceAttributes};
use super::authorizer::Authorizer;
use crate::auth::User;
use crate::error::ApiError;
use crate::store::Store;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// What the headers ask to impersonate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `Impersonate-User`.
    pub user: Option<String>,
    /// `Impersonate-Group` (repeated).
    pub groups: Vec<String>,
    /// `Impersonate-Uid`.
    pub uid: Option<String>,
    /// `Impersonate-Extra-<key>` (key percent-decoded, lowercase as headers are).
    pub extra: BTreeMap<String, Vec<String>>,
}

fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

impl Request {
    /// Reads the impersonation headers; `None` when there are none.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let mut r = Request {
            user: values(headers, USER).into_iter().next(),
            groups: values(headers, GROUP),
            uid: values(headers, UID).into_iter().next(),
            extra: BTreeMap::new(),
        };
        for name in headers.keys() {
            if let Some(key) = name.as_str().strip_prefix(EXTRA_PREFIX) {
                let key = percent_encoding::percent_decode_str(key)
                    .decode_utf8_lossy()
                    .into_owned();
                r.extra.insert(key, values(headers, name.as_str()));
            }
        }
        (r != Request::default()).then_some(r)
    }
}

/// `system:serviceaccount:NS:NAME` → (NS, NAME).
pub fn service_account(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("system:serviceaccount:")?;
    let (ns, sa) = rest.split_once(':')?;
    (!ns.is_empty() && !sa.is_empty() && !sa.contains(':')).then_some((ns, sa))
}

/// The `impersonate` checks the request needs, in upstream's order (user, groups, extras, uid).
pub fn checks(requester: &User, req: &Request) -> Vec<Attributes> {
    let check = |group: &str, resource: &str, sub: &str, ns: &str, name: &str| Attributes {
        user: requester.clone(),
        verb: "impersonate".into(),
        resource: Some(ResourceAttributes {
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: name.into(),
            ..Default::default()
        }),
        path: String::new(),
    };
    let mut out = Vec::new();
    if let Some(u) = &req.user {
        out.push(match service_account(u) {
            Some((ns, sa)) => check("", "serviceaccounts", "", ns, sa),
            None => check("", "users", "", "", u),
        });
    }
    for g in &req.groups {
        out.push(check("", "groups", "", "", g));
    }
    for (k, vs) in &req.extra {
        for v in vs {
            out.push(check("authentication.k8s.io", "userextras", k, "", v));
        }
    }
    if let Some(uid) = &req.uid {
        out.push(check("authentication.k8s.io", "uids", "", "", uid));
    }
    out
}

/// The user a permitted impersonation stands for: the requested groups (a service account's
/// own groups when none are given) plus `system:authenticated` (or, for `system:anonymous`,
/// `system:unauthenticated`) unless already present.
pub fn impersonated_user(req: &Request) -> User {
    let name = req.user.clone().unwrap_or_default();
    let mut groups = req.groups.clone();
    if groups.is_empty()
        && let Some((ns, _)) = service_account(&name)
    {
        groups = vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{ns}"),
        ];
    }
    let has = |g: &str| groups.iter().any(|x| x == g);
    if name == "system:anonymous" {
        if !has("system:unauthenticated") {
            groups.push("system:unauthenticated".into());
        }
    } else if !has("system:authenticated") && !has("system:unauthenticated") {
        groups.push("system:authenticated".into());
    }
    User {
        name,
        uid: req.uid.clone().unwrap_or_default(),
        groups,
        extra: req.extra.clone(),
    }
}

/// Applies the impersonation headers: the user to serve the request as, or upstream's 403
/// naming the first attribute the requester may not impersonate.
pub fn impersonate(
    az: &Authorizer,
    store: &Store,
    requester: &User,
    headers: &HeaderMap,
) -> Result<Option<User>, ApiError> {
    let Some(req) = Request::from_headers(headers) else {
        return Ok(None);
    };
    if req.user.is_none() {
        let mut what = Vec::new();
        if !req.groups.is_empty() {
            what.push(format!("groups {:?}", req.groups));
        }
        if !req.extra.is_empty() {
            what.push("extra".to_string());
        }
        if req.uid.is_some() {
            what.push("uid".to_string());
        }
        return Err(ApiError::internal(format!(
            "requested {} without impersonating a user",
            what.join(", ")
        )));
    }
    for check in checks(requester, &req) {
        let d = az.authorize(store, &check);
        if !d.allowed {
            return Err(super::forbidden::error(&check, &d.reason));
        }
    }
    Ok(Some(impersonated_user(&req)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    }

    #[test]
    fn reads_headers_and_derives_checks() {
        assert!(Request::from_headers(&headers(&[("accept", "x")])).is_none());
        let r = Request::from_headers(&headers(&[
            ("Impersonate-User", "system:serviceaccount:ns:sa"),
            ("Impersonate-Group", "a"),
            ("Impersonate-Group", "b"),
            ("Impersonate-Extra-Scopes%2Fx", "s1"),
            ("Impersonate-Uid", "123"),
        ]))
        .expect("request");
        assert_eq!(r.groups, vec!["a", "b"]);
        assert_eq!(r.extra.get("scopes/x"), Some(&vec!["s1".to_string()]));
        let c = checks(&User::new("x", "", []), &r);
        let short: Vec<(String, String, String, String, String)> = c
            .iter()
            .map(|a| {
                let r = a.resource.clone().unwrap_or_default();
                (r.group, r.resource, r.subresource, r.namespace, r.name)
            })
            .collect();
        let t = |g: &str, r: &str, s: &str, ns: &str, n: &str| {
            (
                g.to_string(),
                r.to_string(),
                s.to_string(),
                ns.to_string(),
                n.to_string(),
            )
        };
        assert_eq!(
            short,
            vec![
                t("", "serviceaccounts", "", "ns", "sa"),
                t("", "groups", "", "", "a"),
                t("", "groups", "", "", "b"),
                t("authentication.k8s.io", "userextras", "scopes/x", "", "s1"),
                t("authentication.k8s.io", "uids", "", "", "123"),
            ]
        );
        assert!(c.iter().all(|a| a.verb == "impersonate"));
    }

    #[test]
    fn impersonated_groups_like_upstream() {
        let req = |user: &str, groups: &[&str]| Request {
            user: Some(user.into()),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(
            impersonated_user(&req("nobody", &["devs"])).groups,
            vec!["devs", "system:authenticated"]
        );
        assert_eq!(
            impersonated_user(&req("system:serviceaccount:ns:default", &[])).groups,
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
        assert_eq!(
            impersonated_user(&req("system:anonymous", &[])).groups,
            vec!["system:unauthenticated"]
        );
        assert_eq!(
            impersonated_user(&req("x", &["system:unauthenticated"])).groups,
            vec!["system:unauthenticated"]
        );
    }
}
