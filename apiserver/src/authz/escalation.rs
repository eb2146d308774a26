//! RBAC escalation prevention, as upstream's RBAC storage does it: a Role or ClusterRole may
//! only be written with rules the writer holds (or with verb `escalate` on it), a binding only
//! to a role whose rules the writer holds (or with verb `bind` on it). `system:masters` may
//! always.

use serde_json::Value;

use super::attributes::{Attributes, ResourceAttributes};
use super::authorizer::{MASTERS, decide};
use super::covers::{compact, covers};
use super::index::PolicyIndex;
use super::rule::{PolicyRule, go_quoted_list};
use crate::auth::User;
use crate::error::{ApiError, Target};
use crate::store::Store;

const GROUP: &str = "rbac.authorization.k8s.io";

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn forbidden(resource: &str, name: &str, msg: String) -> ApiError {
    ApiError::forbidden(
        Target {
            group: GROUP,
            resource,
            name,
        },
        msg,
    )
}

/// Whether `user` may `verb` (`escalate`, `bind`) the role `resource/name` in `namespace`.
fn may(idx: &PolicyIndex, user: &User, verb: &str, resource: &str, ns: &str, name: &str) -> bool {
    decide(
        idx,
        &Attributes {
            user: user.clone(),
            verb: verb.into(),
            resource: Some(ResourceAttributes {
                group: GROUP.into(),
                resource: resource.into(),
                namespace: ns.into(),
                name: name.into(),
                ..Default::default()
            }),
            path: String::new(),
        },
    )
    .allowed
}

/// Upstream's `ConfirmNoEscalation`: the user holds every rule in `namespace` (or cluster-wide).
pub fn confirm_no_escalation(
    idx: &PolicyIndex,
    user: &User,
    namespace: &str,
    rules: &[PolicyRule],
) -> Result<(), String> {
    let (owner, errors) = idx.rules_for(user, namespace);
    let (ok, missing) = covers(&owner, rules);
    if ok {
        return Ok(());
    }
    let mut lines: Vec<String> = compact(&missing)
        .iter()
        .map(PolicyRule::compact_string)
        .collect();
    lines.sort();
    lines.dedup();
    let mut msg = format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        go_quoted_list(&user.groups),
        lines.join("\n")
    );
    if !errors.is_empty() {
        msg.push_str(&format!("; resolution errors: [{}]", errors.join(" ")));
    }
    Err(msg)
}

/// The object without what garbage collection changes (owners, finalizers) and bookkeeping,
/// to tell updates that only touch those apart (upstream skips the checks for them).
fn without_gc_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "ownerReferences",
            "finalizers",
            "managedFields",
            "resourceVersion",
            "generation",
        ] {
            m.remove(k);
        }
    }
    v
}

/// Checks a create (`old` is `None`) or update of a Role (`cluster` false) or ClusterRole.
pub fn check_role(
    store: &Store,
    user: &User,
    cluster: bool,
    old: Option<&Value>,
    new: &Value,
) -> Result<(), ApiError> {
    if user.groups.iter().any(|g| g == MASTERS)
        || old.is_some_and(|o| without_gc_fields(o) == without_gc_fields(new))
    {
        return Ok(());
    }
    let resource = if cluster { "clusterroles" } else { "roles" };
    let (ns, name) = (
        text(new, "/metadata/namespace"),
        text(new, "/metadata/name"),
    );
    let idx = PolicyIndex::build(store, 0);
    if may(&idx, user, "escalate", resource, ns, name) {
        return Ok(());
    }
    confirm_no_escalation(&idx, user, ns, &PolicyRule::list_from(new))
        .map_err(|m| forbidden(resource, name, m))?;
    let aggregation = new.get("aggregationRule").filter(|a| !a.is_null());
    if cluster && aggregation.is_some() && old.and_then(|o| o.get("aggregationRule")) != aggregation
    {
        let full = [
            PolicyRule {
                verbs: vec!["*".into()],
                api_groups: vec!["*".into()],
                resources: vec!["*".into()],
                ..Default::default()
            },
            PolicyRule {
                verbs: vec!["*".into()],
                non_resource_urls: vec!["*".into()],
                ..Default::default()
            },
        ];
        if confirm_no_escalation(&idx, user, "", &full).is_err() {
            return Err(forbidden(
                resource,
                name,
                "must have cluster-admin privileges to use the aggregationRule".into(),
            ));
        }
    }
    Ok(())
}

/// Checks a create or update of a RoleBinding (`cluster` false) or ClusterRoleBinding.
pub fn check_binding(
    store: &Store,
    user: &User,
    cluster: bool,
    old: Option<&Value>,
    new: &Value,
) -> Result<(), ApiError> {
    if user.groups.iter().any(|g| g == MASTERS)
        || old.is_some_and(|o| without_gc_fields(o) == without_gc_fields(new))
    {
        return Ok(());
    }
    let resource = if cluster {
        "clusterrolebindings"
    } else {
        "rolebindings"
    };
    let (ns, name) = (
        text(new, "/metadata/namespace"),
        text(new, "/metadata/name"),
    );
    let (role_kind, role) = (text(new, "/roleRef/kind"), text(new, "/roleRef/name"));
    let role_resource = if role_kind == "ClusterRole" {
        "clusterroles"
    } else {
        "roles"
    };
    let idx = PolicyIndex::build(store, 0);
    if may(&idx, user, "bind", role_resource, ns, role) {
        return Ok(());
    }
    // A binding to a missing role is upstream's 404 for the role (only `bind` may create one).
    let rules = idx.role_rules(role_kind, ns, role).map_err(|_| {
        ApiError::not_found(Target {
            group: GROUP,
            resource: role_resource,
            name: role,
        })
    })?;
    confirm_no_escalation(&idx, user, ns, &rules).map_err(|m| forbidden(resource, name, m))
}
