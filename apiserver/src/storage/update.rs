//! Updating objects: what an update may not change, status and finalize subresources,
//! generation, validation, admission and `managedFields`; and the server's own updates.

use serde_json::{Value, json};

use super::actor::Actor;
use super::commit::{finish, store_error};
use super::convert::{to_served, to_stored};
use super::create::{Checked, decode, meta_causes, validate};
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Cause, Target};
use crate::meta;
use crate::registry::ResourceDef;
use crate::registry::{Ctx, Origin};
use crate::store::{Expect, StoreError};

/// Whether a deleting object may now be removed (no finalizers left).
pub fn ready_to_remove(def: &ResourceDef, obj: &Value) -> bool {
    if !meta::finalizers(obj).is_empty() {
        return false;
    }
    !def.strategy.holds_deletion(obj)
}

/// How an update is made: through which subresource, dry or not, and whether the new object
/// was already decoded against its schema.
#[derive(Debug, Clone, Copy)]
pub struct UpdateMode<'a> {
    /// `status`, `finalize`... or the main resource.
    pub sub: Option<&'a str>,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// Whether typed decoding already happened.
    pub checked: Checked,
    /// A client request or the server's own write.
    pub origin: Origin,
}

/// Carries what updates may not change, splits status, validates and admits.
pub fn prepare_update(
    api: &Api,
    def: &ResourceDef,
    actor: &Actor,
    mode: UpdateMode<'_>,
    old: &Value,
    new: Value,
) -> ApiResult<Value> {
    let UpdateMode {
        sub,
        dry_run,
        checked,
        origin,
    } = mode;
    let name = meta::name(old).to_string();
    let mut new = decode(def, new, checked)?;
    let partial = sub
        .and_then(|s| def.subresource(s))
        .filter(|s| s.is_partial_update());
    let mut new = match partial {
        Some(part) => {
            let mut merged = old.clone();
            for ptr in part.writes {
                take_part(&mut merged, &new, ptr);
            }
            def.strategy
                .prepare_subresource_update(part.name, old, &mut merged);
            merged
        }
        None => {
            if def.has_status
                && let Some(o) = new.as_object_mut()
            {
                match old.get("status") {
                    Some(s) => o.insert("status".into(), s.clone()),
                    None => o.remove("status"),
                };
            }
            new.take()
        }
    };
    carry_metadata(old, &mut new);
    def.strategy.defaults(&mut new);
    def.strategy.carry_over(old, &mut new);
    if def.generation {
        let og = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let changed = meta::spec_changed(old, &new);
        meta::meta_mut(&mut new).insert(
            "generation".into(),
            json!(if changed { og + 1 } else { og }),
        );
    }
    if partial.is_none() {
        def.strategy.prepare_update(old, &mut new);
    }
    let mut causes = meta_causes(&new);
    causes.extend(validate(
        def,
        Some(old),
        &new,
        origin,
        partial.map(|p| p.name),
    ));
    if meta::is_deleting(old) {
        let added: Vec<String> = meta::finalizers(&new)
            .into_iter()
            .filter(|f| !meta::finalizers(old).contains(f))
            .collect();
        if !added.is_empty() {
            causes.push(Cause::forbidden(
                "metadata.finalizers",
                &format!("no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"),
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(&def.kind, &def.group, &name, causes));
    }
    let ctx = Ctx {
        store: &api.store,
        def,
        user: &actor.user,
        dry_run,
    };
    def.strategy.admit_update(&ctx, old, &mut new)?;
    if partial.is_none() {
        crate::limitranger::admit(api, def, Some(old), &mut new)?;
        crate::quota::admit(api, def, Some(old), &new, dry_run)?;
    }
    super::managed_fields::record_update(def, actor, Some(old), &mut new, sub);
    Ok(new)
}

/// Metadata fields an update cannot change.
fn carry_metadata(old: &Value, new: &mut Value) {
    let om = old
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let m = meta::meta_mut(new);
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "namespace",
        "name",
        "generation",
    ] {
        match om.get(k) {
            Some(v) => m.insert(k.into(), v.clone()),
            None => m.remove(k),
        };
    }
    m.remove("resourceVersion");
    if let Some(rv) = om.get("resourceVersion") {
        m.insert("resourceVersion".into(), rv.clone());
    }
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
        let mode = UpdateMode {
            sub,
            dry_run: false,
            checked: Checked::Yes,
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
                finish(
                    api,
                    def,
                    Some(&old_stored),
                    (!remove).then_some(&stored),
                    c.rv,
                )
                .await?;
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

/// Sets the value at JSON pointer `ptr` of `target` to that of `source` (removing it when
/// `source` has none), creating parent objects as needed.
fn take_part(target: &mut Value, source: &Value, ptr: &str) {
    let Some((parent_ptr, key)) = ptr.rsplit_once('/') else {
        return;
    };
    let wanted = source.pointer(ptr).cloned();
    let mut parent = target;
    for seg in parent_ptr.split('/').filter(|s| !s.is_empty()) {
        let Some(obj) = parent.as_object_mut() else {
            return;
        };
        parent = obj.entry(seg.to_string()).or_insert_with(|| json!({}));
    }
    let Some(obj) = parent.as_object_mut() else {
        return;
    };
    match wanted {
        Some(v) => obj.insert(key.to_string(), v),
        None => obj.remove(key),
    };
}
