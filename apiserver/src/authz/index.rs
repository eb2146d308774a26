//! The RBAC objects of a store, indexed by subject so that a check reads only the bindings of
//! the requester's user name and groups.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::rule::PolicyRule;
use crate::auth::User;
use crate::store::Store;

/// Storage keys of the RBAC kinds.
pub const ROLES: &str = "rbac.authorization.k8s.io/roles";
/// Storage key of ClusterRoles.
pub const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
/// Storage key of RoleBindings.
pub const ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/rolebindings";
/// Storage key of ClusterRoleBindings.
pub const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";
/// All four.
pub const ALL: [&str; 4] = [ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS];

/// Who a subject entry names, as requests are matched against it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SubjectKey {
    User(String),
    Group(String),
}

/// One subject of one binding: what grants a requester the rules of a role.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Namespace of a RoleBinding ("" for a ClusterRoleBinding).
    pub namespace: String,
    /// Binding name.
    pub binding: String,
    /// `Role` or `ClusterRole`.
    pub role_kind: String,
    /// Referenced role.
    pub role: String,
    /// The subject, described as upstream does (`User "u"`, `ServiceAccount "sa/ns"`).
    pub subject: String,
}

impl Grant {
    /// Upstream's description of the binding that allowed a request.
    pub fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!(
                "ClusterRoleBinding {:?} of {} {:?} to {}",
                self.binding, self.role_kind, self.role, self.subject
            )
        } else {
            format!(
                "RoleBinding {:?} of {} {:?} to {}",
                format!("{}/{}", self.binding, self.namespace),
                self.role_kind,
                self.role,
                self.subject
            )
        }
    }
}

/// A snapshot of the RBAC objects, indexed.
#[derive(Debug, Default)]
pub struct PolicyIndex {
    /// Store resourceVersion the snapshot is valid for.
    pub rv: u64,
    cluster_roles: HashMap<String, Arc<Vec<PolicyRule>>>,
    roles: HashMap<(String, String), Arc<Vec<PolicyRule>>>,
    cluster_grants: HashMap<SubjectKey, Vec<Grant>>,
    namespaced_grants: HashMap<(String, SubjectKey), Vec<Grant>>,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The keys and descriptions of a binding's subjects (ServiceAccounts become their user
/// names; a ServiceAccount without a namespace in a ClusterRoleBinding matches nobody).
fn subject_keys(binding: &Value, namespace: &str) -> Vec<(SubjectKey, String)> {
    let Some(subjects) = binding.get("subjects").and_then(Value::as_array) else {
        return Vec::new();
    };
    subjects
        .iter()
        .filter_map(|s| {
            let (kind, name) = (text(s, "/kind"), text(s, "/name"));
            match kind {
                "User" => Some((SubjectKey::User(name.into()), format!("User {name:?}"))),
                "Group" => Some((SubjectKey::Group(name.into()), format!("Group {name:?}"))),
                "ServiceAccount" => {
                    let sa_ns = match text(s, "/namespace") {
                        "" => namespace,
                        ns => ns,
                    };
                    let desc = format!("ServiceAccount {:?}", format!("{name}/{sa_ns}"));
                    (!sa_ns.is_empty()).then(|| {
                        (
                            SubjectKey::User(format!("system:serviceaccount:{sa_ns}:{name}")),
                            desc,
                        )
                    })
                }
                _ => None,
            }
        })
        .collect()
}

fn objects(store: &Store, storage: &str) -> Vec<Value> {
    store
        .list(storage, None, None, None, |_, _| true)
        .items
        .iter()
        .filter_map(|o| o.value().ok())
        .collect()
}

impl PolicyIndex {
    /// Reads every RBAC object of `store` (valid as of `rv`).
    pub fn build(store: &Store, rv: u64) -> Self {
        let mut idx = PolicyIndex {
            rv,
            ..Default::default()
        };
        for r in objects(store, CLUSTER_ROLES) {
            idx.cluster_roles.insert(
                text(&r, "/metadata/name").into(),
                Arc::new(PolicyRule::list_from(&r)),
            );
        }
        for r in objects(store, ROLES) {
            let key = (
                text(&r, "/metadata/namespace").to_string(),
                text(&r, "/metadata/name").to_string(),
            );
            idx.roles.insert(key, Arc::new(PolicyRule::list_from(&r)));
        }
        for storage in [CLUSTER_ROLE_BINDINGS, ROLE_BINDINGS] {
            for b in objects(store, storage) {
                let ns = text(&b, "/metadata/namespace").to_string();
                for (key, subject) in subject_keys(&b, &ns) {
                    let grant = Grant {
                        namespace: ns.clone(),
                        binding: text(&b, "/metadata/name").into(),
                        role_kind: text(&b, "/roleRef/kind").into(),
                        role: text(&b, "/roleRef/name").into(),
                        subject,
                    };
                    if ns.is_empty() {
                        idx.cluster_grants.entry(key).or_default().push(grant);
                    } else {
                        idx.namespaced_grants
                            .entry((ns.clone(), key))
                            .or_default()
                            .push(grant);
                    }
                }
            }
        }
        // Deterministic order (upstream visits bindings in cache order): by binding name.
        for list in idx.cluster_grants.values_mut() {
            list.sort_by(|a, b| a.binding.cmp(&b.binding));
        }
        for list in idx.namespaced_grants.values_mut() {
            list.sort_by(|a, b| a.binding.cmp(&b.binding));
        }
        idx
    }

    /// The rules a role reference stands for, or upstream's not-found message.
    pub fn role_rules(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Vec<PolicyRule>>, String> {
        let found = match kind {
            "ClusterRole" => self.cluster_roles.get(name),
            "Role" => self.roles.get(&(namespace.to_string(), name.to_string())),
            other => return Err(format!("unsupported role reference kind: {other:?}")),
        };
        found.cloned().ok_or_else(|| {
            format!(
                "{}.rbac.authorization.k8s.io {name:?} not found",
                kind.to_lowercase()
            )
        })
    }

    /// The grants that apply to `user`: ClusterRoleBindings, then RoleBindings of `namespace`.
    pub fn grants_for(&self, user: &User, namespace: &str) -> Vec<&Grant> {
        let keys: Vec<SubjectKey> = std::iter::once(SubjectKey::User(user.name.clone()))
            .chain(user.groups.iter().map(|g| SubjectKey::Group(g.clone())))
            .collect();
        let mut cluster: Vec<&Grant> = keys
            .iter()
            .filter_map(|k| self.cluster_grants.get(k))
            .flatten()
            .collect();
        cluster.sort_by(|a, b| a.binding.cmp(&b.binding));
        if namespace.is_empty() {
            return cluster;
        }
        let mut local: Vec<&Grant> = keys
            .into_iter()
            .filter_map(|k| self.namespaced_grants.get(&(namespace.to_string(), k)))
            .flatten()
            .collect();
        local.sort_by(|a, b| a.binding.cmp(&b.binding));
        cluster.extend(local);
        cluster
    }

    /// Visits the rules `user` holds in `namespace` (cluster-wide ones included) until `f`
    /// returns false; returns the resolution errors met (missing roles), as upstream reports.
    pub fn visit(
        &self,
        user: &User,
        namespace: &str,
        mut f: impl FnMut(&Grant, &PolicyRule) -> bool,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        for g in self.grants_for(user, namespace) {
            match self.role_rules(&g.role_kind, &g.namespace, &g.role) {
                Ok(rules) => {
                    for r in rules.iter() {
                        if !f(g, r) {
                            return errors;
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    /// Every rule `user` holds in `namespace`, with resolution errors.
    pub fn rules_for(&self, user: &User, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        let mut out = Vec::new();
        let errors = self.visit(user, namespace, |_, r| {
            out.push(r.clone());
            true
        });
        (out, errors)
    }
}
