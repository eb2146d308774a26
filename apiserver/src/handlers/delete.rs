//! delete and deletecollection: preconditions, graceful deletion, finalizers, propagation.

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::filter::Filter;
use crate::api::Api;
use crate::error::{ApiError, ApiResult, success_status};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::meta;
use crate::registry::ResourceDef;
use crate::storage::to_served;
use crate::storage::{DeleteOptions, Outcome, delete_object};

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

/// DELETE of one object.
pub async fn delete(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
) -> ApiResult<Response<Body>> {
    let opts = DeleteOptions::from_req(r).await?;
    let name = r.info.name.clone().unwrap_or_default();
    let ns = r.info.namespace.clone().unwrap_or_default();
    if let Some(current) = crate::storage::get(api, def, &ns, &name) {
        let hooks = crate::webhook::Request {
            def,
            operation: "DELETE",
            subresource: None,
            namespace: &ns,
            name: &name,
            user: &r.user,
            dry_run: opts.dry_run,
            old: Some(&current),
        };
        crate::webhook::validate(api, &hooks, None).await?;
    }
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
    def.strategy.returns_deleted_object()
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
