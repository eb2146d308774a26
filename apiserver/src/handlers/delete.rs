//! delete and deletecollection: preconditions, graceful deletion, finalizers, propagation.

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::write::{durable, store_error};
use super::{Filter, to_served};
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target, success_status};
use crate::http::Req;
use crate::http::response::{self, Body};
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

impl DeleteOptions {
    /// Reads the options of a request (body `DeleteOptions` wins over query parameters).
    pub async fn from_req(r: &mut Req) -> ApiResult<Self> {
        let mut o = DeleteOptions {
            grace: r.q("gracePeriodSeconds").and_then(|g| g.parse().ok()),
            propagation: r.q("propagationPolicy").map(str::to_string),
            dry_run: r.q("dryRun") == Some("All"),
            ..Default::default()
        };
        if r.q("orphanDependents") == Some("true") {
            o.propagation = Some("Orphan".into());
        }
        let body = r.bytes().await?;
        if !body.is_empty() {
            let ct = r
                .header("content-type")
                .unwrap_or("application/json")
                .to_string();
            let v = crate::http::decode_body(&ct, &body)?;
            if let Some(g) = v.get("gracePeriodSeconds").and_then(Value::as_i64) {
                o.grace = Some(g);
            }
            if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
                o.propagation = Some(p.to_string());
            }
            if v.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
                o.propagation = Some("Orphan".into());
            }
            if let Some(u) = v.pointer("/preconditions/uid").and_then(Value::as_str) {
                o.uid = Some(u.to_string());
            }
            if let Some(rv) = v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
            {
                o.resource_version = Some(rv.to_string());
            }
            if let Some(d) = v.get("dryRun").and_then(Value::as_array)
                && d.iter().any(|x| x == "All")
            {
                o.dry_run = true;
            }
        }
        if let Some(p) = &o.propagation
            && !["Orphan", "Background", "Foreground"].contains(&p.as_str())
        {
            return Err(ApiError::invalid(
                "DeleteOptions",
                "",
                "",
                vec![crate::error::Cause::not_supported(
                    "propagationPolicy",
                    p,
                    &["Foreground", "Background", "Orphan"],
                )],
            ));
        }
        if let Some(g) = o.grace
            && g < 0
        {
            o.grace = Some(0);
        }
        Ok(o)
    }
}

/// What a delete did.
pub enum Outcome {
    /// The object is gone; its last state.
    Deleted(Value),
    /// Deletion is pending (graceful or finalizers); the updated object.
    Pending(Value),
}

/// DELETE of one object.
pub async fn delete(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
) -> ApiResult<Response<Body>> {
    let opts = DeleteOptions::from_req(r).await?;
    let name = r.info.name.clone().unwrap_or_default();
    let ns = r.info.namespace.clone().unwrap_or_default();
    let outcome = delete_object(api, def, &ns, &name, &opts).await?;
    Ok(match outcome {
        Outcome::Pending(obj) => response::object(StatusCode::OK, &to_served(def, obj), r.enc),
        Outcome::Deleted(obj) => {
            if returns_deleted_object(def) {
                response::object(StatusCode::OK, &to_served(def, obj), r.enc)
            } else {
                let details = json!({
                    "name": name,
                    "group": def.group,
                    "kind": def.resource,
                    "uid": meta::uid(&obj),
                });
                response::object(StatusCode::OK, &success_status(Some(details)), r.enc)
            }
        }
    })
}

fn returns_deleted_object(def: &ResourceDef) -> bool {
    def.crd.is_some()
        || (def.group.is_empty() && matches!(def.kind.as_str(), "Pod" | "Namespace" | "Service"))
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
                    api.after_write(def, Some(&obj), Some(&next));
                    durable(api, c.rv).await?;
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
                api.after_write(def, Some(&obj), None);
                durable(api, c.rv).await?;
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
    let is_ns = def.group.is_empty() && def.kind == "Namespace";
    let grace = graceful_period(def, obj, opts);
    let has_finalizers =
        !fins.is_empty() || (is_ns && !crate::kinds::namespace::spec_finalizers(obj).is_empty());
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
    if is_ns && let Some(o) = obj.as_object_mut() {
        let status = o.entry("status").or_insert_with(|| json!({}));
        if let Some(s) = status.as_object_mut() {
            s.insert("phase".into(), json!("Terminating"));
        }
    }
    true
}

/// Grace period for a deletion: pods bound to a node and still running get theirs.
fn graceful_period(def: &ResourceDef, obj: &Value, opts: &DeleteOptions) -> i64 {
    if !(def.group.is_empty() && def.kind == "Pod") {
        return 0;
    }
    let bound = obj
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let phase = obj
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !bound || phase == "Succeeded" || phase == "Failed" {
        return 0;
    }
    opts.grace.unwrap_or_else(|| {
        obj.pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30)
    })
}

/// DELETE of a collection.
pub async fn delete_collection(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
) -> ApiResult<Response<Body>> {
    let filter = Filter::from_req(def, r)?;
    let opts = DeleteOptions::from_req(r).await?;
    let ns = r.info.namespace.clone();
    let snap = api
        .store
        .list(&def.storage, ns.as_deref(), None, None, |k, o| {
            filter.matches(def, &k.0, &k.1, o)
        });
    let mut out: Vec<Bytes> = Vec::new();
    for so in &snap.items {
        let Ok(v) = so.value() else { continue };
        let (ons, oname) = (meta::namespace(&v).to_string(), meta::name(&v).to_string());
        match delete_object(api, def, &ons, &oname, &opts).await {
            Ok(Outcome::Deleted(v)) | Ok(Outcome::Pending(v)) => out.push(Bytes::from(
                serde_json::to_vec(&to_served(def, v)).unwrap_or_default(),
            )),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(response::encoded_bytes(
        StatusCode::OK,
        super::read::list_bytes(def, api.store.current_rv(), &out),
        r.enc,
    ))
}
