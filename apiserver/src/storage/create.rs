//! Creating objects: decoding, defaults, name and metadata validation, the kind's validation
//! and admission, namespace lifecycle, and the commit.

use std::sync::Arc;

use serde_json::{Value, json};

use super::actor::Actor;
use super::commit::{finish, store_error, target};
use super::convert::to_stored;
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Cause, Target};
use crate::kinds;
use crate::kinds::custom::validate_custom_resource;
use crate::meta;
use crate::registry::ResourceDef;
use crate::registry::{Ctx, Origin};
use crate::store::{Expect, StoredObject};

/// Checks or fills the namespace of a body against the request path.
pub fn check_namespace(def: &ResourceDef, path_ns: &str, obj: &mut Value) -> ApiResult<()> {
    let meta = meta::meta_mut(obj);
    if !def.namespaced {
        meta.remove("namespace");
        return Ok(());
    }
    match meta.get("namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() && ns != path_ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            meta.insert("namespace".into(), json!(path_ns));
            Ok(())
        }
    }
}

/// Namespace admission: it must exist and not be terminating.
fn check_namespace_lifecycle(api: &Api, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<()> {
    if !def.namespaced || !def.strategy.needs_live_namespace() {
        return Ok(());
    }
    match api
        .store
        .get("/namespaces", "", ns)
        .and_then(|o| o.value().ok())
    {
        None => Err(ApiError::not_found(Target {
            group: "",
            resource: "namespaces",
            name: ns,
        })),
        Some(n) if kinds::namespace::is_terminating(&n) => {
            Err(ApiError::namespace_terminating(target(def, name), ns))
        }
        Some(_) => Ok(()),
    }
}

/// Builds, defaults, validates and admits a new object (shared by create, create-on-update,
/// apply and the server's own writes, told apart by `origin`).
pub fn prepare_new(
    api: &Api,
    def: &ResourceDef,
    path_ns: &str,
    mut obj: Value,
    checked: Checked,
    origin: Origin,
) -> ApiResult<Value> {
    obj = decode(def, obj, checked)?;
    check_namespace(def, path_ns, &mut obj)?;
    let keep_status = !def.strategy.resets_status_on_create();
    {
        let m = meta::meta_mut(&mut obj);
        let name = m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let generate = m
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() && !generate.is_empty() {
            m.insert(
                "name".into(),
                json!(format!(
                    "{generate}{}",
                    kinds::pod_admission::random_suffix()
                )),
            );
        }
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(k);
        }
        m.insert("uid".into(), json!(meta::new_uid()));
        m.insert("creationTimestamp".into(), json!(meta::now()));
        if def.generation {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
    if def.has_status
        && !keep_status
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    def.strategy.defaults(&mut obj);
    let name = meta::name(&obj).to_string();
    let mut causes = Vec::new();
    if name.is_empty() {
        causes.push(Cause::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        causes.extend(kinds::names::validate_name(
            def.strategy.name_rule(),
            "metadata.name",
            &name,
        ));
    }
    causes.extend(meta_causes(&obj));
    causes.extend(validate(def, None, &obj, origin, None));
    if !causes.is_empty() {
        return Err(ApiError::invalid(&def.kind, &def.group, &name, causes));
    }
    check_namespace_lifecycle(api, def, meta::namespace(&obj), &name)?;
    Ok(obj)
}

/// Whether a body was already decoded against its schema (types checked, unknown fields
/// handled) — request bodies and in-process objects are, patch and apply results are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Decoded against the schema already.
    Yes,
    /// Must go through typed decoding.
    No,
}

/// Typed decoding (built-ins) or schema pruning (custom resources) of a body.
pub(super) fn decode(def: &ResourceDef, obj: Value, checked: Checked) -> ApiResult<Value> {
    let mut obj = match checked {
        Checked::Yes => obj,
        Checked::No => def.decode_typed(obj)?,
    };
    if let Some(schema) = def.crd.as_ref().and_then(|c| c.schema.as_ref()) {
        kinds::custom::prune_and_default(schema, &mut obj);
    }
    def.strategy.after_decode(&mut obj);
    Ok(obj)
}

/// Label/annotation validation common to every kind.
pub(super) fn meta_causes(obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Err(msg) = crate::selectors::validate_label_key(k) {
                out.push(Cause::invalid("metadata.labels", &json!(k), &msg));
            }
            let val = v.as_str().unwrap_or_default();
            if let Err(msg) = crate::selectors::validate_label_value(val) {
                out.push(Cause::invalid("metadata.labels", &json!(val), &msg));
            }
        }
    }
    if let Some(ann) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        let mut total = 0;
        for (k, v) in ann {
            if let Err(msg) = crate::selectors::validate_label_key(&k.to_ascii_lowercase()) {
                out.push(Cause::invalid("metadata.annotations", &json!(k), &msg));
            }
            total += k.len() + v.as_str().map(str::len).unwrap_or(0);
        }
        if total > 256 * 1024 {
            out.push(Cause::too_long("metadata.annotations", 256 * 1024));
        }
    }
    out
}

/// Admits a prepared new object (allocations, derived fields) and records its writer in
/// `managedFields`.
pub fn admit_new(
    api: &Api,
    def: &ResourceDef,
    actor: &Actor,
    obj: &mut Value,
    dry_run: bool,
) -> ApiResult<()> {
    let ctx = Ctx {
        store: &api.store,
        def,
        user: &actor.user,
        dry_run,
    };
    def.strategy.admit_create(&ctx, obj)?;
    let before = obj.clone();
    if let Err(e) = crate::limitranger::admit(api, def, None, obj) {
        def.strategy.released(obj);
        return Err(e);
    }
    if *obj != before {
        let causes = def.strategy.validate(None, obj, Origin::Client);
        if !causes.is_empty() {
            def.strategy.released(obj);
            return Err(ApiError::invalid(
                &def.kind,
                &def.group,
                meta::name(obj),
                causes,
            ));
        }
    }
    if let Err(e) = crate::quota::admit(api, def, None, obj, dry_run) {
        def.strategy.released(obj);
        return Err(e);
    }
    super::managed_fields::record_update(def, actor, None, obj, None);
    Ok(())
}

/// Admission of a prepared new object with the webhooks around it: mutating webhooks (the
/// object prepared again when they changed it), the kind's and quota admission, then the
/// validating webhooks (what admission took is given back when they deny). Returns the
/// webhooks' warnings.
pub async fn admit_new_with_webhooks(
    api: &Api,
    def: &ResourceDef,
    actor: &Actor,
    mut obj: Value,
    dry_run: bool,
    origin: Origin,
) -> ApiResult<(Value, Vec<String>)> {
    let ns = meta::namespace(&obj).to_string();
    let name = meta::name(&obj).to_string();
    let req = crate::webhook::Request {
        def,
        operation: "CREATE",
        subresource: None,
        namespace: &ns,
        name: &name,
        user: &actor.user,
        dry_run,
        old: None,
    };
    let before = obj.clone();
    let mut warnings = crate::webhook::mutate(api, &req, &mut obj).await?;
    if obj != before {
        obj = prepare_new(api, def, &ns, obj, Checked::No, origin)?;
    }
    admit_new(api, def, actor, &mut obj, dry_run)?;
    match crate::webhook::validate(api, &req, Some(&obj)).await {
        Ok(w) => warnings.extend(w),
        Err(e) => {
            if !dry_run {
                def.strategy.released(&obj);
                crate::quota::refund(api, def, &obj);
            }
            return Err(e);
        }
    }
    Ok((obj, warnings))
}

/// Commits an admitted new object (in its stored form): fails if it exists (releasing what
/// admission allocated), runs the after-write hooks and waits until it is durable.
pub async fn commit_new(
    api: &Api,
    def: &ResourceDef,
    stored: &Value,
) -> ApiResult<Arc<StoredObject>> {
    let (ns, name) = (meta::namespace(stored), meta::name(stored));
    let committed = api
        .store
        .commit(
            &def.storage,
            ns,
            name,
            Expect::Absent,
            Some(stored.clone()),
            &def.field_paths(),
        )
        .map_err(|e| {
            def.strategy.released(stored);
            crate::quota::refund(api, def, stored);
            store_error(def, name, e)
        })?;
    finish(api, def, None, Some(stored), committed.rv).await?;
    Ok(committed.object)
}

/// Creates an object as `actor` (the server's own writes); returns the stored object.
pub async fn create(api: &Api, def: &ResourceDef, actor: &Actor, obj: Value) -> ApiResult<Value> {
    let ns = meta::namespace(&obj).to_string();
    let obj = prepare_new(api, def, &ns, obj, Checked::Yes, Origin::Server)?;
    let (obj, _) = admit_new_with_webhooks(api, def, actor, obj, false, Origin::Server).await?;
    let stored = to_stored(def, obj);
    commit_new(api, def, &stored)
        .await?
        .value()
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// The kind's validation of a new (`old` = `None`) or updated object, plus the schema of a
/// custom resource.
pub(super) fn validate(
    def: &ResourceDef,
    old: Option<&Value>,
    new: &Value,
    origin: Origin,
    sub: Option<&str>,
) -> Vec<Cause> {
    let mut causes = match (old, sub) {
        (Some(old), Some(sub)) => def
            .strategy
            .validate_subresource_update(sub, old, new, origin),
        _ => def.strategy.validate(old, new, origin),
    };
    if def.crd.is_some() {
        causes.extend(validate_custom_resource(def, new));
    }
    causes
}
