//! What follows a committed write: error mapping, durability, and the after-write bookkeeping
//! (derived state, control-loop wake-ups).

use std::sync::Arc;

use serde_json::Value;

use crate::api::{Api, Change};
use crate::error::{ApiError, ApiResult, Target};
use crate::registry::ResourceDef;
use crate::store::StoreError;

/// The API error target of an object of `def`.
pub fn target<'a>(def: &'a ResourceDef, name: &'a str) -> Target<'a> {
    Target {
        group: &def.group,
        resource: &def.resource,
        name,
    }
}

/// Maps store errors to API errors.
pub fn store_error(def: &ResourceDef, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::AlreadyExists => ApiError::already_exists(target(def, name)),
        StoreError::NotFound => ApiError::not_found(target(def, name)),
        StoreError::Conflict => ApiError::stale(target(def, name)),
        StoreError::Serialize(m) => ApiError::internal(m),
    }
}

/// Waits until a write is durable.
pub async fn durable(api: &Api, rv: u64) -> ApiResult<()> {
    api.store
        .wait_durable(rv)
        .await
        .map_err(|e| ApiError::internal(format!("storage: {e}")))
}

/// After a commit at `rv`: runs the after-write bookkeeping, then waits until it is durable.
pub async fn finish(
    api: &Api,
    def: &ResourceDef,
    old: Option<&Value>,
    new: Option<&Value>,
    rv: u64,
) -> ApiResult<()> {
    after_write(api, def, old, new);
    durable(api, rv).await
}

/// Bookkeeping after a committed write: derived state and control-loop wake-ups.
pub fn after_write(api: &Api, def: &ResourceDef, old: Option<&Value>, new: Option<&Value>) {
    if def.strategy.changes_served_resources() {
        refresh_crds(api);
    }
    def.strategy.after_write(old, new);
    let obj = new.or(old);
    if let Some(o) = obj {
        let _ = api.changes.send(Change {
            storage: def.storage.clone(),
            namespace: crate::meta::namespace(o).to_string(),
            name: crate::meta::name(o).to_string(),
            uid: crate::meta::uid(o).to_string(),
            controller: crate::meta::controller_of(o).map(|(k, n, _)| (k, n)),
            deleted: new.is_none(),
        });
    }
}

/// Rebuilds state derived from stored objects: CRD-served resources, and what strategies
/// keep about stored objects (allocations).
pub fn load_derived(api: &Api) {
    refresh_crds(api);
    let mut seen = std::collections::HashSet::new();
    for def in api.registry.all() {
        if !def.strategy.keeps_derived_state() || !seen.insert(def.storage.clone()) {
            continue;
        }
        let stored = api.store.list(&def.storage, None, None, None, |_, _| true);
        for so in stored.items {
            if let Ok(v) = so.value() {
                def.strategy.loaded(&v);
            }
        }
    }
}

/// Re-reads every CRD and serves the established ones.
pub fn refresh_crds(api: &Api) {
    let crds = api.store.list(
        "apiextensions.k8s.io/customresourcedefinitions",
        None,
        None,
        None,
        |_, _| true,
    );
    let defs: Vec<Arc<ResourceDef>> = crds
        .items
        .iter()
        .filter_map(|so| so.value().ok())
        .filter(crate::registry::custom::is_established)
        .flat_map(|crd| crate::registry::custom::defs_from_crd(&crd))
        .map(Arc::new)
        .collect();
    api.registry.set_custom(defs);
}
