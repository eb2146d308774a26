//! The components' RBAC of `config/` (their namespace, ClusterRoles, Roles and bindings),
//! written into the embedded super cluster, which enforces RBAC like upstream: the
//! components' identities get exactly the rights a deployment grants them.

use apiserver::api::Api;
use apiserver::storage::{self, Actor};
use serde_json::Value;

use super::options::COMPONENT_NAMESPACE;

/// The manifests, as kustomize would place them (namespaced objects in `vc-manager`).
const MANIFESTS: [&str; 4] = [
    include_str!("../../../config/vc-manager/namespace.yaml"),
    include_str!("../../../config/vc-manager/rbac.yaml"),
    include_str!("../../../config/syncer/rbac.yaml"),
    include_str!("../../../config/vn-agent/rbac.yaml"),
];

fn resource(kind: &str) -> Option<(&'static str, &'static str, bool)> {
    Some(match kind {
        "Namespace" => ("", "namespaces", false),
        "ClusterRole" => ("rbac.authorization.k8s.io", "clusterroles", false),
        "ClusterRoleBinding" => ("rbac.authorization.k8s.io", "clusterrolebindings", false),
        "Role" => ("rbac.authorization.k8s.io", "roles", true),
        "RoleBinding" => ("rbac.authorization.k8s.io", "rolebindings", true),
        _ => return None,
    })
}

/// Creates what is missing.
pub(super) async fn apply(api: &Api) -> Result<(), String> {
    let actor = Actor::system("vcctl");
    for text in MANIFESTS {
        for doc in serde_yaml::Deserializer::from_str(text) {
            let mut obj = <Value as serde::Deserialize>::deserialize(doc)
                .map_err(|e| format!("config/ RBAC manifest: {e}"))?;
            let kind = obj["kind"].as_str().unwrap_or_default().to_string();
            let Some((group, plural, namespaced)) = resource(&kind) else {
                continue;
            };
            if namespaced && obj["metadata"]["namespace"].as_str().is_none() {
                obj["metadata"]["namespace"] = Value::from(COMPONENT_NAMESPACE);
            }
            let def = storage::def(api, group, plural).map_err(|e| e.to_string())?;
            let ns = obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if storage::get(api, &def, &ns, &name).is_none() {
                storage::create(api, &def, &actor, obj)
                    .await
                    .map_err(|e| format!("creating {kind} {name}: {e}"))?;
            }
        }
    }
    Ok(())
}
