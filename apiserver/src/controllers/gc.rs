//! Garbage collection by ownerReferences: dependents of a deleted owner are deleted
//! (background), `foregroundDeletion` owners wait for their blocking dependents, `orphan`
//! owners release their dependents first.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::runtime::{Controller, Key, Requeue};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::registry::ResourceDef;
use crate::storage::Actor;
use crate::storage::{DeleteOptions, delete_object};
use crate::{meta, storage};

/// (storage, namespace, name) of a dependent.
type DepRef = (String, String, String);

/// Owner uid → dependents, and dependent → owner uids.
#[derive(Default)]
struct Index {
    dependents: HashMap<String, HashSet<DepRef>>,
    owners: HashMap<DepRef, Vec<String>>,
}

impl Index {
    fn set(&mut self, dep: DepRef, owner_uids: Vec<String>) {
        self.remove(&dep);
        if owner_uids.is_empty() {
            return;
        }
        for u in &owner_uids {
            self.dependents
                .entry(u.clone())
                .or_default()
                .insert(dep.clone());
        }
        self.owners.insert(dep, owner_uids);
    }

    fn remove(&mut self, dep: &DepRef) {
        if let Some(old) = self.owners.remove(dep) {
            for u in old {
                if let Some(set) = self.dependents.get_mut(&u) {
                    set.remove(dep);
                    if set.is_empty() {
                        self.dependents.remove(&u);
                    }
                }
            }
        }
    }
}

/// The garbage collector.
#[derive(Default)]
pub struct GarbageCollector {
    index: Mutex<Index>,
}

const GONE: &str = "gone";
const DELETING: &str = "deleting";
const DEPENDENT: &str = "dependent";

fn encode(dep: &DepRef) -> String {
    format!("{}|{}|{}", dep.0, dep.1, dep.2)
}

fn decode(s: &str) -> Option<DepRef> {
    let mut it = s.splitn(3, '|');
    Some((
        it.next()?.to_string(),
        it.next()?.to_string(),
        it.next()?.to_string(),
    ))
}

fn owner_uids(obj: &Value) -> Vec<String> {
    meta::owner_references(obj)
        .iter()
        .filter_map(|o| o.get("uid").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn has_gc_finalizer(obj: &Value) -> bool {
    meta::finalizers(obj)
        .iter()
        .any(|f| f == "orphan" || f == "foregroundDeletion")
}

impl GarbageCollector {
    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn observe(&self, dep: DepRef, obj: &Value) -> Vec<Key> {
        let uids = owner_uids(obj);
        let mut keys = Vec::new();
        if !uids.is_empty() {
            keys.push((DEPENDENT.to_string(), encode(&dep)));
        }
        if meta::is_deleting(obj) && has_gc_finalizer(obj) {
            keys.push((DELETING.to_string(), encode(&dep)));
        }
        self.lock().set(dep, uids);
        keys
    }
}

impl Controller for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbagecollector"
    }

    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key> {
        let dep: DepRef = (
            change.storage.clone(),
            change.namespace.clone(),
            change.name.clone(),
        );
        let mut keys = Vec::new();
        if change.deleted {
            self.lock().remove(&dep);
            if self.lock().dependents.contains_key(&change.uid) {
                keys.push((GONE.to_string(), change.uid.clone()));
            }
            // Owners of this object may be waiting for it (foreground deletion).
            return keys;
        }
        let Some(so) = api
            .store
            .get(&change.storage, &change.namespace, &change.name)
        else {
            return keys;
        };
        let json = &so.json;
        let interesting = memchr::memmem::find(json, b"ownerReferences\"").is_some()
            || memchr::memmem::find(json, b"deletionTimestamp").is_some();
        if !interesting {
            self.lock().remove(&dep);
            return keys;
        }
        match so.value() {
            Ok(v) => {
                let mut ks = self.observe(dep, &v);
                // A dependent changing may unblock its foreground-deleting owners.
                for u in owner_uids(&v) {
                    ks.push((GONE.to_string(), u));
                }
                ks
            }
            Err(_) => keys,
        }
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        let mut keys = Vec::new();
        let mut seen = HashSet::new();
        for def in api.registry.all() {
            if !def.is_stored() || !seen.insert(def.storage.clone()) {
                continue;
            }
            for so in api
                .store
                .list(&def.storage, None, None, None, |_, _| true)
                .items
            {
                if let Ok(v) = so.value() {
                    let dep = (
                        def.storage.clone(),
                        meta::namespace(&v).to_string(),
                        meta::name(&v).to_string(),
                    );
                    keys.extend(self.observe(dep, &v));
                }
            }
        }
        keys
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        match key.0.as_str() {
            GONE => self.owner_gone_or_changed(&api, &key.1).await,
            DELETING => match decode(&key.1) {
                Some(d) => self.owner_deleting(&api, &d).await,
                None => Ok(None),
            },
            DEPENDENT => match decode(&key.1) {
                Some(d) => self.check_dependent(&api, &d).await,
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }
}

/// The definition serving a storage key.
fn def_for_storage(api: &Api, storage: &str) -> Option<Arc<ResourceDef>> {
    api.registry
        .all()
        .into_iter()
        .find(|d| d.storage == storage && d.is_stored())
}

/// Where an owner reference points, as (def, namespace).
fn resolve_owner(api: &Api, owner: &Value, dep_ns: &str) -> Option<(Arc<ResourceDef>, String)> {
    let api_version = owner.get("apiVersion").and_then(Value::as_str)?;
    let kind = owner.get("kind").and_then(Value::as_str)?;
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let def = api.registry.find_kind(group, kind)?;
    let ns = if def.namespaced {
        dep_ns.to_string()
    } else {
        String::new()
    };
    Some((def, ns))
}

/// Whether the owner a reference names exists with that uid.
fn owner_alive(api: &Api, owner: &Value, dep_ns: &str) -> Option<bool> {
    let (def, ns) = resolve_owner(api, owner, dep_ns)?;
    let name = owner.get("name").and_then(Value::as_str)?;
    let uid = owner.get("uid").and_then(Value::as_str)?;
    Some(
        api.store
            .get(&def.storage, &ns, name)
            .is_some_and(|o| &*o.uid == uid),
    )
}

impl GarbageCollector {
    /// An owner was deleted or one of its dependents changed: re-check its dependents, and
    /// let a foreground-deleting owner go once nothing blocks it.
    async fn owner_gone_or_changed(
        &self,
        api: &Arc<Api>,
        owner_uid: &str,
    ) -> Result<Requeue, ApiError> {
        let deps: Vec<DepRef> = self
            .lock()
            .dependents
            .get(owner_uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for d in deps {
            self.check_dependent(api, &d).await?;
        }
        Ok(None)
    }

    /// A dependent whose owners are all gone is deleted; dangling references are dropped when
    /// other owners remain; owners in foreground deletion are finalized when unblocked.
    async fn check_dependent(&self, api: &Arc<Api>, dep: &DepRef) -> Result<Requeue, ApiError> {
        let Some(def) = def_for_storage(api, &dep.0) else {
            return Ok(None);
        };
        let Some(obj) = storage::get(api, &def, &dep.1, &dep.2) else {
            return Ok(None);
        };
        let refs = meta::owner_references(&obj);
        if refs.is_empty() {
            return Ok(None);
        }
        let mut alive = Vec::new();
        let mut dead = Vec::new();
        for r in &refs {
            match owner_alive(api, r, &dep.1) {
                Some(true) => alive.push(r.clone()),
                Some(false) => dead.push(r.clone()),
                None => alive.push(r.clone()),
            }
        }
        // Owners being deleted in the foreground wait for blocking dependents.
        for r in &alive {
            if let Some((odef, ons)) = resolve_owner(api, r, &dep.1) {
                let oname = r.get("name").and_then(Value::as_str).unwrap_or_default();
                if let Some(owner) = storage::get(api, &odef, &ons, oname)
                    && meta::is_deleting(&owner)
                    && meta::finalizers(&owner)
                        .iter()
                        .any(|f| f == "foregroundDeletion")
                {
                    self.owner_deleting(api, &(odef.storage.clone(), ons, oname.to_string()))
                        .await?;
                }
            }
        }
        if dead.is_empty() {
            return Ok(None);
        }
        if alive.is_empty() {
            if meta::is_deleting(&obj) {
                return Ok(None);
            }
            let opts = DeleteOptions {
                propagation: Some("Background".into()),
                uid: Some(meta::uid(&obj).to_string()),
                ..Default::default()
            };
            match delete_object(api, &def, &dep.1, &dep.2, &opts).await {
                Ok(_) => {}
                Err(e) if e.code == 404 || e.code == 409 => {}
                Err(e) => return Err(e),
            }
            return Ok(None);
        }
        let dead_uids: Vec<&str> = dead
            .iter()
            .filter_map(|r| r.get("uid").and_then(Value::as_str))
            .collect();
        let actor = Actor::system("garbage-collector");
        edit_owner_references(api, &def, &actor, dep, |refs| {
            Some(
                refs.into_iter()
                    .filter(|r| !has_uid_in(r, &dead_uids))
                    .collect(),
            )
        })
        .await?;
        Ok(None)
    }

    /// An owner with `orphan` or `foregroundDeletion` finalizers is being deleted.
    async fn owner_deleting(&self, api: &Arc<Api>, owner: &DepRef) -> Result<Requeue, ApiError> {
        let Some(def) = def_for_storage(api, &owner.0) else {
            return Ok(None);
        };
        let Some(obj) = storage::get(api, &def, &owner.1, &owner.2) else {
            return Ok(None);
        };
        if !meta::is_deleting(&obj) {
            return Ok(None);
        }
        let uid = meta::uid(&obj).to_string();
        let fins = meta::finalizers(&obj);
        let deps: Vec<DepRef> = self
            .lock()
            .dependents
            .get(&uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let actor = Actor::system("garbage-collector");
        if fins.iter().any(|f| f == "orphan") {
            for d in &deps {
                let Some(ddef) = def_for_storage(api, &d.0) else {
                    continue;
                };
                edit_owner_references(api, &ddef, &actor, d, |refs| {
                    Some(
                        refs.into_iter()
                            .filter(|r| !has_uid_in(r, &[&uid]))
                            .collect(),
                    )
                })
                .await?;
            }
            remove_finalizer(api, &def, &actor, owner, "orphan").await?;
            return Ok(None);
        }
        if fins.iter().any(|f| f == "foregroundDeletion") {
            let mut blocking = 0;
            for d in &deps {
                let Some(ddef) = def_for_storage(api, &d.0) else {
                    continue;
                };
                let Some(dobj) = storage::get(api, &ddef, &d.1, &d.2) else {
                    continue;
                };
                let blocks = meta::owner_references(&dobj).iter().any(|r| {
                    r.get("uid").and_then(Value::as_str) == Some(uid.as_str())
                        && r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true)
                });
                if blocks {
                    blocking += 1;
                }
                if !meta::is_deleting(&dobj) && has_solid_owner(api, &dobj, &uid, &d.1) {
                    // Another owner keeps it: only the references to owners on their way out
                    // go, as upstream's GC does.
                    drop_references_to_departing(api, &ddef, &actor, d).await?;
                    continue;
                }
                if !meta::is_deleting(&dobj) {
                    if self.has_dependent_deleting_dependents(api, &dobj) {
                        unblock_owner_references(api, &ddef, &actor, d).await?;
                    }
                    let opts = DeleteOptions {
                        propagation: Some("Foreground".into()),
                        ..Default::default()
                    };
                    match delete_object(api, &ddef, &d.1, &d.2, &opts).await {
                        Ok(_) => {}
                        Err(e) if e.code == 404 || e.code == 409 => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            if blocking == 0 {
                remove_finalizer(api, &def, &actor, owner, "foregroundDeletion").await?;
                return Ok(None);
            }
            return Ok(Some(Duration::from_millis(500)));
        }
        Ok(None)
    }
}

impl GarbageCollector {
    /// Whether one of `obj`'s dependents is itself deleting its dependents: deleting `obj` in
    /// the foreground too would close a circle of owners waiting on each other.
    fn has_dependent_deleting_dependents(&self, api: &Api, obj: &Value) -> bool {
        let deps: Vec<DepRef> = self
            .lock()
            .dependents
            .get(meta::uid(obj))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        deps.iter().any(|d| {
            def_for_storage(api, &d.0)
                .and_then(|def| storage::get(api, &def, &d.1, &d.2))
                .is_some_and(|o| {
                    meta::is_deleting(&o)
                        && meta::finalizers(&o)
                            .iter()
                            .any(|f| f == "foregroundDeletion")
                })
        })
    }
}

/// An owner is solid when it exists and is not itself waiting for its dependents.
fn owner_state(api: &Api, r: &Value, dep_ns: &str) -> OwnerState {
    let Some((def, ns)) = resolve_owner(api, r, dep_ns) else {
        return OwnerState::Solid;
    };
    let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
    let uid = r.get("uid").and_then(Value::as_str).unwrap_or_default();
    match storage::get(api, &def, &ns, name) {
        Some(o) if meta::uid(&o) == uid => {
            let waiting = meta::is_deleting(&o)
                && meta::finalizers(&o)
                    .iter()
                    .any(|f| f == "foregroundDeletion");
            if waiting {
                OwnerState::Departing
            } else {
                OwnerState::Solid
            }
        }
        _ => OwnerState::Departing,
    }
}

#[derive(PartialEq, Eq)]
enum OwnerState {
    Solid,
    Departing,
}

/// Whether `obj` has a solid owner other than `except` (a uid).
fn has_solid_owner(api: &Api, obj: &Value, except: &str, ns: &str) -> bool {
    meta::owner_references(obj).iter().any(|r| {
        r.get("uid").and_then(Value::as_str) != Some(except)
            && owner_state(api, r, ns) == OwnerState::Solid
    })
}

/// Whether owner reference `r` names one of `uids`.
fn has_uid_in(r: &Value, uids: &[&str]) -> bool {
    r.get("uid")
        .and_then(Value::as_str)
        .is_some_and(|u| uids.contains(&u))
}

/// Rewrites a dependent's owner references with `edit` (which returns `None` for no change).
async fn edit_owner_references(
    api: &Api,
    def: &ResourceDef,
    actor: &Actor,
    dep: &DepRef,
    edit: impl Fn(Vec<Value>) -> Option<Vec<Value>>,
) -> Result<(), ApiError> {
    storage::update(api, def, actor, &dep.1, &dep.2, None, |o| {
        match edit(meta::owner_references(o)) {
            Some(refs) => {
                o["metadata"]["ownerReferences"] = json!(refs);
                true
            }
            None => false,
        }
    })
    .await?;
    Ok(())
}

/// Removes the references to owners that are gone or waiting for their dependents.
async fn drop_references_to_departing(
    api: &Api,
    def: &ResourceDef,
    actor: &Actor,
    dep: &DepRef,
) -> Result<(), ApiError> {
    edit_owner_references(api, def, actor, dep, |refs| {
        let kept: Vec<Value> = refs
            .iter()
            .filter(|r| owner_state(api, r, &dep.1) == OwnerState::Solid)
            .cloned()
            .collect();
        (kept.len() != refs.len()).then_some(kept)
    })
    .await
}

/// Upstream's circle breaker: the object's owner references stop blocking their owners'
/// deletion, so a circle of foreground deletions can finish.
async fn unblock_owner_references(
    api: &Api,
    def: &ResourceDef,
    actor: &Actor,
    dep: &DepRef,
) -> Result<(), ApiError> {
    edit_owner_references(api, def, actor, dep, |mut refs| {
        let blocking = refs
            .iter()
            .any(|r| r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true));
        for r in &mut refs {
            if r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true) {
                r["blockOwnerDeletion"] = json!(false);
            }
        }
        blocking.then_some(refs)
    })
    .await
}

async fn remove_finalizer(
    api: &Api,
    def: &ResourceDef,
    actor: &Actor,
    owner: &DepRef,
    fin: &str,
) -> Result<(), ApiError> {
    storage::update(api, def, actor, &owner.1, &owner.2, None, |o| {
        let kept: Vec<String> = meta::finalizers(o)
            .into_iter()
            .filter(|f| f != fin)
            .collect();
        meta::set_finalizers(o, &kept);
        true
    })
    .await?;
    Ok(())
}
