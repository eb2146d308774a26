//! Answers to the authorization reviews (`SelfSubjectAccessReview`, `SubjectAccessReview`,
//! `LocalSubjectAccessReview`, `SelfSubjectRulesReview`) and `SelfSubjectReview`'s user info,
//! evaluated by the same authorizer as requests.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::attributes::{Attributes, ResourceAttributes};
use super::authorizer::Authorizer;
use crate::auth::User;
use crate::error::{ApiError, Cause};
use crate::store::Store;

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Upstream's 422 for a review: the kind is left empty as upstream leaves it.
fn invalid(causes: Vec<Cause>) -> ApiError {
    let mut e = ApiError::invalid("", "authorization.k8s.io", "", causes);
    if let Some(d) = e.details.as_mut().and_then(|d| d.as_object_mut()) {
        d.remove("name");
        d.remove("kind");
    }
    e
}

fn present(spec: &Value, key: &str) -> bool {
    spec.get(key).is_some_and(|v| !v.is_null())
}

/// The user a `SubjectAccessReview` asks about.
fn spec_user(spec: &Value) -> User {
    let extra: BTreeMap<String, Vec<String>> = spec
        .get("extra")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), strings(Some(v))))
                .collect()
        })
        .unwrap_or_default();
    User {
        name: text(spec, "user"),
        uid: text(spec, "uid"),
        groups: strings(spec.get("groups")),
        extra,
    }
}

/// Answers an access review of `kind` in `namespace` (the request path's) from `requester`.
pub fn access_review(
    az: &Authorizer,
    store: &Store,
    requester: &User,
    kind: &str,
    namespace: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    let spec = body.get("spec").cloned().unwrap_or(Value::Null);
    let (has_res, has_non) = (
        present(&spec, "resourceAttributes"),
        present(&spec, "nonResourceAttributes"),
    );
    let mut causes = Vec::new();
    if has_res && has_non {
        causes.push(Cause::invalid(
            "spec.nonResourceAttributes",
            &json!(spec["nonResourceAttributes"].to_string()),
            "cannot be specified in combination with resourceAttributes",
        ));
    }
    if !has_res && !has_non {
        causes.push(Cause::invalid(
            "spec.resourceAttributes",
            &json!("null"),
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    }
    let user = if kind == "SelfSubjectAccessReview" {
        requester.clone()
    } else {
        let u = spec_user(&spec);
        if u.name.is_empty() && u.groups.is_empty() {
            causes.push(Cause::invalid(
                "spec.user",
                &json!(""),
                "at least one of user or group must be specified",
            ));
        }
        u
    };
    if kind == "LocalSubjectAccessReview" {
        let asked = spec
            .pointer("/resourceAttributes/namespace")
            .and_then(Value::as_str);
        if has_res && asked != Some(namespace) {
            causes.push(Cause::invalid(
                "spec.resourceAttributes.namespace",
                &json!(asked.unwrap_or_default()),
                "must match metadata.namespace",
            ));
        }
    }
    if !causes.is_empty() {
        return Err(invalid(causes));
    }
    let attrs = if has_res {
        let r = &spec["resourceAttributes"];
        Attributes {
            user,
            verb: text(r, "verb"),
            resource: Some(ResourceAttributes {
                group: text(r, "group"),
                version: text(r, "version"),
                resource: text(r, "resource"),
                subresource: text(r, "subresource"),
                namespace: text(r, "namespace"),
                name: text(r, "name"),
            }),
            path: String::new(),
        }
    } else {
        let r = &spec["nonResourceAttributes"];
        Attributes::non_resource(user, &text(r, "verb"), &text(r, "path"))
    };
    let d = az.authorize(store, &attrs);
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = json!(d.reason);
    }
    Ok(status)
}

/// The rules `user` holds in the namespace a `SelfSubjectRulesReview` names.
pub fn rules_review(az: &Authorizer, store: &Store, user: &User, body: &Value) -> Value {
    let namespace = body
        .pointer("/spec/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let idx = az.index(store);
    let (rules, errors) = idx.rules_for(user, namespace);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for r in &rules {
        if !r.resources.is_empty() {
            let mut o = json!({"verbs": r.verbs});
            for (k, list) in [
                ("apiGroups", &r.api_groups),
                ("resources", &r.resources),
                ("resourceNames", &r.resource_names),
            ] {
                if !list.is_empty() {
                    o[k] = json!(list);
                }
            }
            resource_rules.push(o);
        }
        if !r.non_resource_urls.is_empty() {
            non_resource_rules
                .push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
    }
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": false,
    });
    if !errors.is_empty() {
        status["evaluationError"] = json!(super::authorizer::aggregate(&errors));
    }
    status
}

/// `userInfo` as `SelfSubjectReview` and `TokenReview` report it.
pub fn user_info(u: &User) -> Value {
    let mut v = json!({"username": u.name, "groups": u.groups});
    if !u.uid.is_empty() {
        v["uid"] = json!(u.uid);
    }
    if !u.extra.is_empty() {
        v["extra"] = json!(u.extra);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_specs_like_upstream() {
        let store = Store::memory(1);
        let az = Authorizer::default();
        let me = User::new("u", "", []);
        let e = access_review(
            &az,
            &store,
            &me,
            "SelfSubjectAccessReview",
            "",
            &json!({"spec": {}}),
        )
        .expect_err("invalid");
        assert_eq!(
            e.message,
            r#".authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified"#
        );
        let body = json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}});
        let e =
            access_review(&az, &store, &me, "SubjectAccessReview", "", &body).expect_err("user");
        assert!(
            e.message.ends_with(
                r#"spec.user: Invalid value: "": at least one of user or group must be specified"#
            ),
            "{}",
            e.message
        );
        let body =
            json!({"spec": {"user": "x", "resourceAttributes": {"verb": "get", "namespace": "b"}}});
        let e = access_review(&az, &store, &me, "LocalSubjectAccessReview", "a", &body)
            .expect_err("ns");
        assert!(e.message.ends_with(r#"spec.resourceAttributes.namespace: Invalid value: "b": must match metadata.namespace"#), "{}", e.message);
        let ok = access_review(&az, &store, &me, "SelfSubjectAccessReview", "", &body).expect("ok");
        assert_eq!(ok, json!({"allowed": false}));
    }
}
