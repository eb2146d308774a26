//! In-process writes (bootstrap objects and control loops) through the same pipeline as
//! client requests: defaults, validation, admission, managed fields, events to watchers. They
//! are validated as [`Origin::Server`]: endpoint addresses are not checked (see there).

use serde_json::Value;

use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target};
use crate::handlers::write::{
    Actor, durable, prepare_new, prepare_update, ready_to_remove, store_error,
};
use crate::handlers::{to_served, to_stored};
use crate::kinds::{self, Ctx, Origin};
use crate::meta;
use crate::registry::ResourceDef;
use crate::store::{Expect, StoreError};

/// The definition of a built-in resource (`group`, `resource`), in its first served version.
pub fn def(api: &Api, group: &str, resource: &str) -> ApiResult<std::sync::Arc<ResourceDef>> {
    api.registry
        .all()
        .into_iter()
        .find(|d| d.group == group && d.resource == resource)
        .ok_or_else(|| ApiError::internal(format!("resource {resource}.{group} is not served")))
}

/// Creates an object as `actor`; returns the stored object.
pub async fn create(api: &Api, def: &ResourceDef, actor: &Actor, obj: Value) -> ApiResult<Value> {
    let ns = meta::namespace(&obj).to_string();
    let mut obj = prepare_new(
        api,
        def,
        &ns,
        obj,
        crate::handlers::write::Checked::Yes,
        Origin::Server,
    )?;
    let ctx = Ctx {
        api,
        def,
        user: &actor.user,
        dry_run: false,
    };
    kinds::admit_create(&ctx, &mut obj)?;
    crate::managed::record_update(def, actor, None, &mut obj, None);
    let stored = to_stored(def, obj);
    let (ns, name) = (
        meta::namespace(&stored).to_string(),
        meta::name(&stored).to_string(),
    );
    let c = api
        .store
        .commit(
            &def.storage,
            &ns,
            &name,
            Expect::Absent,
            Some(stored.clone()),
            &def.field_paths(),
        )
        .map_err(|e| {
            kinds::released(api, def, &stored);
            store_error(def, &name, e)
        })?;
    api.after_write(def, None, Some(&stored));
    durable(api, c.rv).await?;
    c.object
        .value()
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Reads an object in its served form.
pub fn get(api: &Api, def: &ResourceDef, ns: &str, name: &str) -> Option<Value> {
    api.store
        .get(&def.storage, ns, name)
        .and_then(|o| o.value().ok())
        .map(|v| to_served(def, v))
}

/// Updates an object with `change` (retrying on races); `sub` selects `status`/`finalize`.
/// Returns `None` when the object does not exist. `change` returning `false` skips the write.
pub async fn update<F>(
    api: &Api,
    def: &ResourceDef,
    actor: &Actor,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    mut change: F,
) -> ApiResult<Option<Value>>
where
    F: FnMut(&mut Value) -> bool,
{
    for _ in 0..32 {
        let Some(cur) = api.store.get(&def.storage, ns, name) else {
            return Ok(None);
        };
        let old_stored = cur.value().map_err(|e| ApiError::internal(e.to_string()))?;
        let old = to_served(def, old_stored.clone());
        let mut new = old.clone();
        if !change(&mut new) {
            return Ok(Some(old));
        }
        let mode = crate::handlers::write::UpdateMode {
            sub,
            dry_run: false,
            checked: crate::handlers::write::Checked::Yes,
            origin: Origin::Server,
        };
        let new = prepare_update(api, def, actor, mode, &old, new)?;
        if meta::same_content(&old, &new) {
            return Ok(Some(old));
        }
        let stored = to_stored(def, new);
        let remove = meta::is_deleting(&stored) && ready_to_remove(def, &stored);
        let res = api.store.commit(
            &def.storage,
            ns,
            name,
            Expect::Version(cur.rv),
            (!remove).then(|| stored.clone()),
            &def.field_paths(),
        );
        match res {
            Ok(c) => {
                api.after_write(def, Some(&old_stored), (!remove).then_some(&stored));
                durable(api, c.rv).await?;
                return Ok(Some(
                    c.object
                        .value()
                        .map_err(|e| ApiError::internal(e.to_string()))?,
                ));
            }
            Err(StoreError::Conflict) => continue,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(store_error(def, name, e)),
        }
    }
    Err(ApiError::conflict(
        Target {
            group: &def.group,
            resource: &def.resource,
            name,
        },
        "too many concurrent updates",
    ))
}
