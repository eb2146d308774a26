//! Upstream's 403 for a denied request: `pods "web" is forbidden: User "u" cannot get
//! resource "pods" in API group "" in the namespace "default"`.

use super::attributes::Attributes;
use crate::error::{ApiError, Target};

/// Upstream's `forbiddenMessage`: what the user may not do.
pub fn message(a: &Attributes) -> String {
    let user = &a.user.name;
    let Some(r) = &a.resource else {
        return format!("User {user:?} cannot {} path {:?}", a.verb, a.path);
    };
    let resource = if r.subresource.is_empty() {
        r.resource.clone()
    } else {
        format!("{}/{}", r.resource, r.subresource)
    };
    if r.namespace.is_empty() {
        format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
            a.verb, r.group
        )
    } else {
        format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
            a.verb, r.group, r.namespace
        )
    }
}

/// The 403 `Status` for a denied request; a non-empty `reason` follows the message after `: `.
pub fn error(a: &Attributes, reason: &str) -> ApiError {
    let mut msg = message(a);
    if !reason.is_empty() {
        msg = format!("{msg}: {reason}");
    }
    match &a.resource {
        Some(r) => ApiError::forbidden(
            Target {
                group: &r.group,
                resource: &r.resource,
                name: &r.name,
            },
            msg,
        ),
        None => ApiError::forbidden_plain(format!("forbidden: {msg}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::User;
    use crate::authz::attributes::ResourceAttributes;

    fn attrs(verb: &str, group: &str, res: &str, sub: &str, ns: &str, name: &str) -> Attributes {
        Attributes {
            user: User::new("u", "", []),
            verb: verb.into(),
            resource: Some(ResourceAttributes {
                group: group.into(),
                resource: res.into(),
                subresource: sub.into(),
                namespace: ns.into(),
                name: name.into(),
                ..Default::default()
            }),
            path: String::new(),
        }
    }

    #[test]
    fn messages_like_upstream() {
        let e = error(&attrs("get", "", "pods", "", "default", "web"), "");
        assert_eq!(
            e.message,
            r#"pods "web" is forbidden: User "u" cannot get resource "pods" in API group "" in the namespace "default""#
        );
        let e = error(&attrs("list", "", "nodes", "", "", ""), "");
        assert_eq!(
            e.message,
            r#"nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the cluster scope"#
        );
        let e = error(&attrs("create", "", "pods", "exec", "a", "web"), "RBAC: x");
        assert_eq!(
            e.message,
            r#"pods "web" is forbidden: User "u" cannot create resource "pods/exec" in API group "" in the namespace "a": RBAC: x"#
        );
        let e = error(&attrs("list", "apps", "deployments", "", "a", ""), "");
        assert!(e.message.starts_with("deployments.apps is forbidden: "));
        let e = error(
            &Attributes::non_resource(User::new("u", "", []), "get", "/metrics"),
            "",
        );
        assert_eq!(
            (e.code, e.message.as_str()),
            (403, r#"forbidden: User "u" cannot get path "/metrics""#)
        );
    }
}
