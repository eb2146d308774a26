//! Deleting objects: preconditions, graceful deletion, finalizers, propagation.

use serde_json::{Value, json};

use super::commit::{finish, store_error};
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target};
use crate::meta;
use crate::registry::ResourceDef;
use crate::store::{Expect, StoreError};

/// Delete options from the body or the query.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace: Option<i64>,
    /// `propagationPolicy`.
    pub propagation: Option<String>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// What a delete did.
pub enum Outcome {
    /// The object is gone; its last state.
    Deleted(Value),
    /// Deletion is pending (graceful or finalizers); the updated object.
    Pending(Value),
}

fn precondition_error(def: &ResourceDef, name: &str, msg: String) -> ApiError {
    ApiError::conflict(
        Target {
            group: &def.group,
            resource: &def.resource,
            name,
        },
        msg,
    )
}

/// Deletes (or starts deleting) one object; shared by the API, deletecollection and the
/// control loops.
pub async fn delete_object(
    api: &Api,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    opts: &DeleteOptions,
) -> ApiResult<Outcome> {
    loop {
        let Some(cur) = api.store.get(&def.storage, ns, name) else {
            return Err(ApiError::not_found(Target {
                group: &def.group,
                resource: &def.resource,
                name,
            }));
        };
        let obj = cur.value().map_err(|e| ApiError::internal(e.to_string()))?;
        if let Some(uid) = &opts.uid
            && uid != meta::uid(&obj)
        {
            return Err(precondition_error(
                def,
                name,
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(&obj)
                ),
            ));
        }
        if let Some(rv) = &opts.resource_version
            && *rv != cur.rv.to_string()
        {
            return Err(precondition_error(
                def,
                name,
                format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    cur.rv
                ),
            ));
        }
        let mut next = obj.clone();
        let pending = plan_deletion(def, &mut next, opts);
        if opts.dry_run {
            return Ok(if pending {
                Outcome::Pending(next)
            } else {
                Outcome::Deleted(obj)
            });
        }
        if pending {
            if meta::same_content(&obj, &next) {
                return Ok(Outcome::Pending(obj));
            }
            match api.store.commit(
                &def.storage,
                ns,
                name,
                Expect::Version(cur.rv),
                Some(next.clone()),
                &def.field_paths(),
            ) {
                Ok(c) => {
                    finish(api, def, Some(&obj), Some(&next), c.rv).await?;
                    let v = c
                        .object
                        .value()
                        .map_err(|e| ApiError::internal(e.to_string()))?;
                    return Ok(Outcome::Pending(v));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(store_error(def, name, e)),
            }
        }
        match api.store.commit(
            &def.storage,
            ns,
            name,
            Expect::Version(cur.rv),
            None,
            &def.field_paths(),
        ) {
            Ok(c) => {
                finish(api, def, Some(&obj), None, c.rv).await?;
                let v = c
                    .object
                    .value()
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                return Ok(Outcome::Deleted(v));
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(store_error(def, name, e)),
        }
    }
}

/// Marks `obj` for deletion; returns whether it stays (graceful or finalizers) instead of
/// being removed now.
fn plan_deletion(def: &ResourceDef, obj: &mut Value, opts: &DeleteOptions) -> bool {
    let mut fins = meta::finalizers(obj);
    let deleting = meta::is_deleting(obj);
    match opts.propagation.as_deref() {
        Some("Orphan") if !fins.iter().any(|f| f == "orphan") => fins.push("orphan".into()),
        Some("Foreground") if !fins.iter().any(|f| f == "foregroundDeletion") => {
            fins.push("foregroundDeletion".into())
        }
        Some("Background") if deleting => {
            fins.retain(|f| f != "orphan" && f != "foregroundDeletion");
        }
        _ => {}
    }
    let grace = def.strategy.grace_period(obj, opts.grace);
    let has_finalizers = !fins.is_empty() || def.strategy.holds_deletion(obj);
    if grace == 0 && !has_finalizers {
        return false;
    }
    meta::set_finalizers(obj, &fins);
    let now = jiff::Timestamp::now();
    let m = meta::meta_mut(obj);
    let current_grace = m.get("deletionGracePeriodSeconds").and_then(Value::as_i64);
    let shorten = current_grace.is_none_or(|g| grace < g);
    if !deleting || shorten {
        let at = now + jiff::SignedDuration::from_secs(grace);
        if !deleting || grace < current_grace.unwrap_or(i64::MAX) {
            m.insert("deletionTimestamp".into(), json!(meta::format_time(at)));
        }
        m.insert("deletionGracePeriodSeconds".into(), json!(grace));
    }
    def.strategy.mark_deleting(obj);
    true
}
