//! Upstream's authorizer chain for `--authorization-mode=RBAC`: members of `system:masters`
//! are always allowed, everyone else gets what RBAC grants. The index of RBAC objects is
//! rebuilt only when one of them changed.

use std::sync::{Arc, RwLock};

use super::attributes::Attributes;
use super::index::{ALL, PolicyIndex};
use crate::store::Store;

/// The group upstream always allows (its privileged loopback clients use it too).
pub const MASTERS: &str = "system:masters";

/// An authorization decision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Why (upstream's wording: `RBAC: allowed by ...`, or the resolution errors on denial).
    pub reason: String,
}

/// The RBAC authorizer with its cached index.
#[derive(Debug, Default)]
pub struct Authorizer {
    cache: RwLock<Option<Arc<PolicyIndex>>>,
}

/// Go's `utilerrors.Aggregate` message: one error as is, several as `[a, b]`, deduplicated.
pub fn aggregate(errors: &[String]) -> String {
    let mut seen: Vec<&String> = Vec::new();
    for e in errors {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    match seen.as_slice() {
        [one] => (*one).clone(),
        many => format!(
            "[{}]",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Authorizer {
    /// The index as of the store's latest RBAC write.
    pub fn index(&self, store: &Store) -> Arc<PolicyIndex> {
        let rv = store.last_write(&ALL);
        if let Some(idx) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|i| i.rv == rv)
        {
            return idx.clone();
        }
        let idx = Arc::new(PolicyIndex::build(store, rv));
        let mut slot = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(|cur| cur.rv <= rv) {
            *slot = Some(idx.clone());
        }
        idx
    }

    /// Decides a request.
    pub fn authorize(&self, store: &Store, a: &Attributes) -> Decision {
        if a.user.groups.iter().any(|g| g == MASTERS) {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        decide(&self.index(store), a)
    }
}

/// The group and name prefix of kubelets (node client certificates).
const NODES: &str = "system:nodes";

/// Upstream runs `Node,RBAC`: its Node authorizer grants a kubelet the rules of the
/// `system:node` ClusterRole (scoped by its object graph, which is not modelled here), while
/// that role's binding has no subjects. Simulated kubelets rely on it.
fn node_allows(idx: &PolicyIndex, a: &Attributes) -> bool {
    a.user.name.starts_with("system:node:")
        && a.user.groups.iter().any(|g| g == NODES)
        && idx
            .role_rules("ClusterRole", "", "system:node")
            .is_ok_and(|rules| rules.iter().any(|r| r.allows(a)))
}

/// RBAC's decision over an index (no `system:masters` shortcut).
pub fn decide(idx: &PolicyIndex, a: &Attributes) -> Decision {
    if node_allows(idx, a) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let mut allowed_by = None;
    let errors = idx.visit(&a.user, a.namespace(), |grant, rule| {
        if rule.allows(a) {
            allowed_by = Some(grant.describe());
            return false;
        }
        true
    });
    match allowed_by {
        Some(by) => Decision {
            allowed: true,
            reason: format!("RBAC: allowed by {by}"),
        },
        None if errors.is_empty() => Decision::default(),
        None => Decision {
            allowed: false,
            reason: format!("RBAC: {}", aggregate(&errors)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::User;
    use crate::authz::attributes::ResourceAttributes;
    use crate::authz::index::{CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, ROLE_BINDINGS, ROLES};
    use serde_json::json;

    fn put(store: &Store, storage: &str, obj: serde_json::Value) {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        store
            .commit(
                storage,
                &ns,
                &name,
                crate::store::Expect::Absent,
                Some(obj),
                &[],
            )
            .expect("commit");
    }

    fn req(user: &User, verb: &str, resource: &str, ns: &str, name: &str) -> Attributes {
        Attributes {
            user: user.clone(),
            verb: verb.into(),
            resource: Some(ResourceAttributes {
                resource: resource.into(),
                namespace: ns.into(),
                name: name.into(),
                ..Default::default()
            }),
            path: String::new(),
        }
    }

    fn store() -> Arc<Store> {
        let s = Store::memory(10);
        put(
            &s,
            ROLES,
            json!({"metadata": {"name": "cm-reader", "namespace": "ns1"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}),
        );
        put(
            &s,
            ROLE_BINDINGS,
            json!({"metadata": {"name": "limited-cm", "namespace": "ns1"},
            "roleRef": {"kind": "Role", "name": "cm-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "limited"}]}),
        );
        put(
            &s,
            CLUSTER_ROLES,
            json!({"metadata": {"name": "node-reader"},
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}),
        );
        put(
            &s,
            CLUSTER_ROLE_BINDINGS,
            json!({"metadata": {"name": "devs-nodes"},
            "roleRef": {"kind": "ClusterRole", "name": "node-reader"},
            "subjects": [{"kind": "Group", "name": "devs"}]}),
        );
        put(
            &s,
            ROLE_BINDINGS,
            json!({"metadata": {"name": "dangling", "namespace": "ns2"},
            "roleRef": {"kind": "ClusterRole", "name": "missing"},
            "subjects": [{"kind": "User", "name": "bob"}]}),
        );
        s
    }

    #[test]
    fn bindings_resolve_per_subject_and_namespace() {
        let s = store();
        let az = Authorizer::default();
        let sa = User::new(
            "system:serviceaccount:ns1:limited",
            "",
            ["system:serviceaccounts".to_string()],
        );
        let d = az.authorize(&s, &req(&sa, "list", "configmaps", "ns1", ""));
        assert!(d.allowed);
        assert_eq!(
            d.reason,
            r#"RBAC: allowed by RoleBinding "limited-cm/ns1" of Role "cm-reader" to ServiceAccount "limited/ns1""#
        );
        assert!(
            !az.authorize(&s, &req(&sa, "list", "configmaps", "ns2", ""))
                .allowed
        );
        assert!(
            !az.authorize(&s, &req(&sa, "list", "pods", "ns1", ""))
                .allowed
        );
        let dev = User::new("carol", "", ["devs".to_string()]);
        let d = az.authorize(&s, &req(&dev, "get", "nodes", "", "n1"));
        assert_eq!(
            d.reason,
            r#"RBAC: allowed by ClusterRoleBinding "devs-nodes" of ClusterRole "node-reader" to Group "devs""#
        );
        let bob = User::new("bob", "", []);
        let d = az.authorize(&s, &req(&bob, "get", "pods", "ns2", "x"));
        assert_eq!(
            d,
            Decision {
                allowed: false,
                reason: r#"RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found"#.into()
            }
        );
        put(
            &s,
            CLUSTER_ROLES,
            json!({"metadata": {"name": "system:node"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        );
        let kubelet = User::new("system:node:n1", "", [NODES.to_string()]);
        assert!(
            az.authorize(&s, &req(&kubelet, "get", "pods", "a", "p"))
                .allowed
        );
        assert!(
            !az.authorize(&s, &req(&kubelet, "delete", "pods", "a", "p"))
                .allowed
        );
        let admin = User::new("root", "", [MASTERS.to_string()]);
        assert!(
            az.authorize(&s, &req(&admin, "delete", "nodes", "", "n"))
                .allowed
        );
    }

    #[test]
    fn index_is_rebuilt_only_after_rbac_writes() {
        let s = store();
        let az = Authorizer::default();
        let first = az.index(&s);
        put(
            &s,
            "/pods",
            json!({"metadata": {"name": "p", "namespace": "ns1"}}),
        );
        assert!(Arc::ptr_eq(&first, &az.index(&s)));
        put(
            &s,
            CLUSTER_ROLES,
            json!({"metadata": {"name": "new"}, "rules": []}),
        );
        assert!(!Arc::ptr_eq(&first, &az.index(&s)));
    }
}
