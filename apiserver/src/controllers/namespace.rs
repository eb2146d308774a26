//! Namespace lifecycle: a deleted namespace is Terminating, its content is deleted, then the
//! `kubernetes` finalizer is removed and the namespace goes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::runtime::{Controller, Key, Requeue, keys_of};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::storage::Actor;
use crate::storage::{DeleteOptions, delete_object};
use crate::{meta, storage};

/// The namespace controller.
pub struct NamespaceController;

impl Controller for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace"
    }

    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key> {
        if change.storage == "/namespaces" {
            return vec![(String::new(), change.name.clone())];
        }
        if change.deleted && !change.namespace.is_empty() {
            let deleting = api
                .store
                .get("/namespaces", "", &change.namespace)
                .and_then(|o| o.value().ok())
                .is_some_and(|n| meta::is_deleting(&n));
            if deleting {
                return vec![(String::new(), change.namespace.clone())];
            }
        }
        Vec::new()
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, "/namespaces")
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let ns_def = storage::def(&api, "", "namespaces")?;
        let Some(ns) = storage::get(&api, &ns_def, "", &key.1) else {
            return Ok(None);
        };
        if !meta::is_deleting(&ns) {
            return Ok(None);
        }
        let remaining = delete_content(&api, &key.1).await?;
        let actor = Actor::system("namespace-controller");
        if !remaining.is_empty() {
            set_conditions(&api, &actor, &key.1, &remaining).await?;
            return Ok(Some(Duration::from_millis(500)));
        }
        storage::update(&api, &ns_def, &actor, "", &key.1, Some("finalize"), |n| {
            let fins: Vec<Value> = n
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|f| f.as_str() != Some("kubernetes"))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            n["spec"]["finalizers"] = json!(fins);
            true
        })
        .await?;
        Ok(None)
    }
}

/// What is left in a terminating namespace: objects per resource (`configmaps.`,
/// `widgets.example.com`) and objects per finalizer holding them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Remaining {
    /// Objects still present, by `resource.group`.
    pub resources: BTreeMap<String, usize>,
    /// Objects held by each finalizer.
    pub finalizers: BTreeMap<String, usize>,
}

impl Remaining {
    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    fn count(&mut self, resource: String, obj: &Value) {
        *self.resources.entry(resource).or_default() += 1;
        for f in meta::finalizers(obj) {
            *self.finalizers.entry(f).or_default() += 1;
        }
    }
}

/// Deletes everything in the namespace; returns what is still there.
async fn delete_content(api: &Api, ns: &str) -> Result<Remaining, ApiError> {
    let mut seen = HashSet::new();
    let mut left = Remaining::default();
    for def in api.registry.all() {
        if !def.namespaced || !def.is_stored() || !seen.insert(def.storage.clone()) {
            continue;
        }
        let resource = format!("{}.{}", def.resource, def.group);
        let items = api
            .store
            .list(&def.storage, Some(ns), None, None, |_, _| true)
            .items;
        for so in items {
            let Ok(v) = so.value() else { continue };
            if meta::is_deleting(&v) {
                left.count(resource.clone(), &v);
                continue;
            }
            match delete_object(api, &def, ns, meta::name(&v), &DeleteOptions::default()).await {
                Ok(crate::storage::Outcome::Pending(after)) => left.count(resource.clone(), &after),
                Ok(crate::storage::Outcome::Deleted(_)) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(left)
}

/// Upstream's five deletion conditions for what `left` says: (type, status, reason, message).
pub fn deletion_conditions(
    left: &Remaining,
) -> Vec<(&'static str, &'static str, &'static str, String)> {
    let joined = |m: &BTreeMap<String, usize>, word: &str| {
        m.iter()
            .map(|(k, n)| format!("{k}{word}{n} resource instances"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let content = if left.resources.is_empty() {
        (
            "False",
            "ContentRemoved",
            "All content successfully removed".to_string(),
        )
    } else {
        (
            "True",
            "SomeResourcesRemain",
            format!(
                "Some resources are remaining: {}",
                joined(&left.resources, " has ")
            ),
        )
    };
    let finalizers = if left.finalizers.is_empty() {
        (
            "False",
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".to_string(),
        )
    } else {
        (
            "True",
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                joined(&left.finalizers, " in ")
            ),
        )
    };
    vec![
        (
            "NamespaceDeletionDiscoveryFailure",
            "False",
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
        ),
        (
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".into(),
        ),
        (
            "NamespaceDeletionContentFailure",
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into(),
        ),
        ("NamespaceContentRemaining", content.0, content.1, content.2),
        (
            "NamespaceFinalizersRemaining",
            finalizers.0,
            finalizers.1,
            finalizers.2,
        ),
    ]
}

async fn set_conditions(
    api: &Api,
    actor: &Actor,
    ns: &str,
    left: &Remaining,
) -> Result<(), ApiError> {
    let ns_def = storage::def(api, "", "namespaces")?;
    let wanted = deletion_conditions(left);
    storage::update(api, &ns_def, actor, "", ns, Some("status"), |n| {
        let old = n.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        let now = meta::now();
        let conds: Vec<Value> = wanted
            .iter()
            .map(|(kind, status, reason, message)| {
                let prior = old.iter().find(|c| c["type"] == *kind);
                // The transition time moves only when the status does.
                let since = prior
                    .filter(|c| c["status"] == *status)
                    .and_then(|c| c.get("lastTransitionTime").cloned())
                    .unwrap_or_else(|| json!(now));
                json!({"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": since})
            })
            .collect();
        let others = old.iter().filter(|c| !wanted.iter().any(|(k, ..)| c["type"] == *k)).cloned();
        let conds: Vec<Value> = others.chain(conds).collect();
        if conds == old {
            return false;
        }
        n["status"]["conditions"] = json!(conds);
        true
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_name_what_remains_as_upstream() {
        let mut left = Remaining::default();
        left.count(
            "configmaps.".into(),
            &json!({"metadata": {"finalizers": ["example.com/block"]}}),
        );
        left.count("widgets.example.com".into(), &json!({"metadata": {}}));
        let c = deletion_conditions(&left);
        assert_eq!(
            c[3].3,
            "Some resources are remaining: configmaps. has 1 resource instances, widgets.example.com has 1 resource instances"
        );
        assert_eq!(c[4].1, "True");
        assert_eq!(c[4].2, "SomeFinalizersRemain");
        assert_eq!(
            c[4].3,
            "Some content in the namespace has finalizers remaining: example.com/block in 1 resource instances"
        );
        let done = deletion_conditions(&Remaining::default());
        assert_eq!((done[3].1, done[3].2), ("False", "ContentRemoved"));
    }
}
