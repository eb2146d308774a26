//! Namespace lifecycle: a deleted namespace is Terminating, its content is deleted, then the
//! `kubernetes` finalizer is removed and the namespace goes.

use std::collections::HashSet;
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
        if remaining > 0 {
            set_condition(&api, &actor, &key.1, remaining).await?;
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

/// Deletes everything in the namespace; returns how many objects are still there.
async fn delete_content(api: &Api, ns: &str) -> Result<usize, ApiError> {
    let mut seen = HashSet::new();
    let mut left = 0;
    for def in api.registry.all() {
        if !def.namespaced || !def.is_stored() || !seen.insert(def.storage.clone()) {
            continue;
        }
        let items = api
            .store
            .list(&def.storage, Some(ns), None, None, |_, _| true)
            .items;
        for so in items {
            let Ok(v) = so.value() else { continue };
            if meta::is_deleting(&v) {
                left += 1;
                continue;
            }
            match delete_object(api, &def, ns, meta::name(&v), &DeleteOptions::default()).await {
                Ok(crate::storage::Outcome::Pending(_)) => left += 1,
                Ok(crate::storage::Outcome::Deleted(_)) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(left)
}

async fn set_condition(
    api: &Api,
    actor: &Actor,
    ns: &str,
    remaining: usize,
) -> Result<(), ApiError> {
    let ns_def = storage::def(api, "", "namespaces")?;
    storage::update(api, &ns_def, actor, "", ns, Some("status"), |n| {
        let msg = format!("Some resources are remaining: {remaining} objects");
        let conds = n.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        if conds.iter().any(|c| c.get("type") == Some(&json!("NamespaceContentRemaining")) && c.get("message") == Some(&json!(msg))) {
            return false;
        }
        let mut conds: Vec<Value> = conds
            .into_iter()
            .filter(|c| c.get("type") != Some(&json!("NamespaceContentRemaining")))
            .collect();
        conds.push(json!({"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain", "message": msg, "lastTransitionTime": meta::now()}));
        n["status"]["conditions"] = json!(conds);
        true
    })
    .await?;
    Ok(())
}
