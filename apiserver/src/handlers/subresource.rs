//! Subresources: status, scale, binding, eviction, token, finalize, the kubelet-proxied ones,
//! and the create-only review resources.

use std::sync::Arc;

use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::delete::{DeleteOptions, Outcome, delete_object};
use super::to_served;
use super::write::{self, Change, durable, store_error};
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target, success_status};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::meta;
use crate::registry::ResourceDef;
use crate::store::Expect;

fn target<'a>(def: &'a ResourceDef, name: &'a str) -> Target<'a> {
    Target {
        group: &def.group,
        resource: &def.resource,
        name,
    }
}

/// Routes a subresource request.
pub async fn serve(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
    sub: &str,
) -> ApiResult<Response<Body>> {
    let name = r.info.name.clone().unwrap_or_default();
    let method = r.method.clone();
    match (sub, &method) {
        ("status", &Method::GET) => super::read::get(api, def, r),
        ("status", &Method::PUT) => write::update(api, def, r, Some("status")).await,
        ("status", &Method::PATCH) => write::patch(api, def, r, Some("status")).await,
        ("finalize", &Method::PUT) => write::update(api, def, r, Some("finalize")).await,
        ("scale", _) => scale(api, def, r, &name).await,
        ("binding", &Method::POST) => {
            let body = r.json_body().await?;
            bind(api, r, &name, &body).await
        }
        ("eviction", &Method::POST) => evict(api, def, r, &name).await,
        ("token", &Method::POST) => token_request(api, r, &name).await,
        ("log" | "exec" | "attach" | "portforward" | "proxy", _) => {
            crate::kubelet::proxy(api, def, r, sub).await
        }
        _ => Err(ApiError::method_not_allowed(
            method.as_str(),
            target(def, &name),
        )),
    }
}

/// POST `pods/{name}/binding` (and `bindings`): assigns a pod to a node.
pub async fn bind(api: &Arc<Api>, r: &Req, name: &str, body: &Value) -> ApiResult<Response<Body>> {
    let ns = r.info.namespace.clone().unwrap_or_default();
    let node = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "Binding",
                "",
                name,
                vec![crate::error::Cause::required("target.name", "")],
            )
        })?
        .to_string();
    let pods = api
        .registry
        .find("", "v1", "pods")
        .ok_or_else(|| ApiError::internal("pods are not served"))?;
    let bind_target = Target {
        group: "",
        resource: "pods/binding",
        name,
    };
    loop {
        let cur = api
            .store
            .get("/pods", &ns, name)
            .ok_or_else(|| ApiError::not_found(target(&pods, name)))?;
        let mut pod = cur.value().map_err(|e| ApiError::internal(e.to_string()))?;
        if meta::is_deleting(&pod) {
            return Err(ApiError::conflict(
                bind_target.clone(),
                format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        let existing = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !existing.is_empty() {
            return Err(ApiError::conflict(
                bind_target.clone(),
                format!("pod {name} is already assigned to node {existing:?}"),
            ));
        }
        if let Some(uid) = body.pointer("/metadata/uid").and_then(Value::as_str)
            && !uid.is_empty()
            && uid != meta::uid(&pod)
        {
            return Err(ApiError::conflict(
                bind_target.clone(),
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(&pod)
                ),
            ));
        }
        if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), json!(node));
        }
        if let Some(ann) = body
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
        {
            let m = meta::meta_mut(&mut pod);
            let a = m.entry("annotations").or_insert_with(|| json!({}));
            if let Some(ao) = a.as_object_mut() {
                for (k, v) in ann {
                    ao.insert(k.clone(), v.clone());
                }
            }
        }
        set_pod_condition(&mut pod, "PodScheduled", "True", None, None);
        match api.store.commit(
            "/pods",
            &ns,
            name,
            Expect::Version(cur.rv),
            Some(pod.clone()),
            &pods.field_paths(),
        ) {
            Ok(c) => {
                api.after_write(&pods, None, Some(&pod));
                durable(api, c.rv).await?;
                return Ok(response::object(
                    StatusCode::CREATED,
                    &success_status(None),
                    r.enc,
                ));
            }
            Err(crate::store::StoreError::Conflict) => continue,
            Err(e) => return Err(store_error(&pods, name, e)),
        }
    }
}

/// Sets (or adds) a pod condition, keeping the transition time when the status is unchanged.
pub fn set_pod_condition(
    pod: &mut Value,
    kind: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
) {
    let Some(o) = pod.as_object_mut() else { return };
    let st = o.entry("status").or_insert_with(|| json!({}));
    let Some(so) = st.as_object_mut() else { return };
    let conds = so.entry("conditions").or_insert_with(|| json!([]));
    let Some(list) = conds.as_array_mut() else {
        return;
    };
    let now = meta::now();
    let mut c =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    match list
        .iter_mut()
        .find(|x| x.get("type").and_then(Value::as_str) == Some(kind))
    {
        Some(existing) => {
            if existing.get("status").and_then(Value::as_str) == Some(status) {
                c["lastTransitionTime"] = existing
                    .get("lastTransitionTime")
                    .cloned()
                    .unwrap_or(json!(now));
            }
            *existing = c;
        }
        None => list.push(c),
    }
}

/// POST `pods/{name}/eviction`: a graceful delete with the eviction's options.
async fn evict(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
    name: &str,
) -> ApiResult<Response<Body>> {
    let body = r.json_body().await.unwrap_or(json!({}));
    let ns = r.info.namespace.clone().unwrap_or_default();
    let mut opts = DeleteOptions::default();
    if let Some(g) = body
        .pointer("/deleteOptions/gracePeriodSeconds")
        .and_then(Value::as_i64)
    {
        opts.grace = Some(g);
    }
    if let Some(u) = body
        .pointer("/deleteOptions/preconditions/uid")
        .and_then(Value::as_str)
    {
        opts.uid = Some(u.to_string());
    }
    match delete_object(api, def, &ns, name, &opts).await? {
        Outcome::Deleted(_) | Outcome::Pending(_) => Ok(response::object(
            StatusCode::CREATED,
            &success_status(None),
            r.enc,
        )),
    }
}

/// The `/scale` subresource of deployments, replicasets, statefulsets, replicationcontrollers and
/// custom resources that declare it.
async fn scale(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
    name: &str,
) -> ApiResult<Response<Body>> {
    let ns = r.info.namespace.clone().unwrap_or_default();
    let paths = scale_paths(def);
    let cur = api
        .store
        .get(&def.storage, &ns, name)
        .ok_or_else(|| ApiError::not_found(target(def, name)))?;
    let obj = to_served(
        def,
        cur.value().map_err(|e| ApiError::internal(e.to_string()))?,
    );
    let current_scale = scale_of(&obj, &paths);
    if r.method == Method::GET {
        return Ok(response::object(StatusCode::OK, &current_scale, r.enc));
    }
    let desired = match r.method {
        Method::PUT => r.json_body().await?,
        Method::PATCH => {
            let ct = r.header("content-type").unwrap_or_default().to_string();
            let body = r.bytes().await?;
            let scale_def = crate::internal::def(api, "autoscaling", "horizontalpodautoscalers")
                .map(|d| ResourceDef {
                    group: "autoscaling".into(),
                    version: "v1".into(),
                    kind: "Scale".into(),
                    crd: None,
                    ..(*d).clone()
                })?;
            crate::patching::apply_patch(&scale_def, r, &current_scale, &ct, &body, None)?.0
        }
        _ => {
            return Err(ApiError::method_not_allowed(
                r.method.as_str(),
                target(def, name),
            ));
        }
    };
    let replicas = desired
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("scale: spec.replicas is required"))?;
    let mut patch = json!({});
    set_path(&mut patch, &paths.0, json!(replicas));
    if let Some(rv) = meta::resource_version(&desired) {
        meta::meta_mut(&mut patch).insert("resourceVersion".into(), json!(rv));
    }
    let body = bytes::Bytes::from(patch.to_string());
    let resp = write::apply_change(
        api,
        def,
        r,
        None,
        Change::Patch {
            content_type: crate::patching::MERGE_PATCH.to_string(),
            body,
        },
    )
    .await?;
    let status = resp.status();
    let updated = api
        .store
        .get(&def.storage, &ns, name)
        .and_then(|o| o.value().ok())
        .map(|v| to_served(def, v))
        .unwrap_or(obj);
    Ok(response::object(status, &scale_of(&updated, &paths), r.enc))
}

/// (spec replicas path, status replicas path, selector path) as dotted paths.
fn scale_paths(def: &ResourceDef) -> (String, String, Option<String>) {
    if let Some(s) = def.crd.as_ref().and_then(|c| c.scale.as_ref()) {
        return (
            s.spec_replicas.trim_start_matches('.').to_string(),
            s.status_replicas.trim_start_matches('.').to_string(),
            s.label_selector
                .as_ref()
                .map(|p| p.trim_start_matches('.').to_string()),
        );
    }
    (
        "spec.replicas".into(),
        "status.replicas".into(),
        Some("spec.selector".into()),
    )
}

fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, p| cur.get(p))
}

fn set_path(v: &mut Value, path: &str, val: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = v;
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(o) = cur.as_object_mut() else { return };
        if i == parts.len() - 1 {
            o.insert((*p).to_string(), val);
            return;
        }
        cur = o.entry((*p).to_string()).or_insert_with(|| json!({}));
    }
}

fn scale_of(obj: &Value, paths: &(String, String, Option<String>)) -> Value {
    let spec = get_path(obj, &paths.0).and_then(Value::as_i64).unwrap_or(0);
    let status = get_path(obj, &paths.1).and_then(Value::as_i64).unwrap_or(0);
    let selector = paths
        .2
        .as_deref()
        .and_then(|p| get_path(obj, p))
        .map(|s| match s {
            Value::String(s) => s.clone(),
            other => selector_string(other),
        })
        .unwrap_or_default();
    let m = obj.get("metadata").cloned().unwrap_or(json!({}));
    let mut status_obj = json!({"replicas": status});
    if !selector.is_empty() {
        status_obj["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"),
            "namespace": m.get("namespace"),
            "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"),
            "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": spec},
        "status": status_obj,
    })
}

/// A `metav1.LabelSelector` rendered as a selector string (`a=b,c in (d)`).
pub fn selector_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    if let Some(me) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in me {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let vals: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default()
            {
                "In" => parts.push(format!("{key} in ({})", vals.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.sort();
    parts.join(",")
}

/// POST `serviceaccounts/{name}/token` (TokenRequest).
async fn token_request(api: &Arc<Api>, r: &mut Req, name: &str) -> ApiResult<Response<Body>> {
    let ns = r.info.namespace.clone().unwrap_or_default();
    let body = r.json_body().await?;
    let signer = api
        .tokens
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("service account token signing is not configured"))?;
    let sa = api
        .store
        .get("/serviceaccounts", &ns, name)
        .ok_or_else(|| {
            ApiError::not_found(Target {
                group: "",
                resource: "serviceaccounts",
                name,
            })
        })?;
    let audiences = spec_audiences(&body);
    let exp = body
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    if exp < 600 {
        return Err(ApiError::invalid(
            "TokenRequest",
            "authentication.k8s.io",
            name,
            vec![crate::error::Cause::invalid(
                "spec.expirationSeconds",
                &json!(exp),
                "may not specify a duration less than 10 minutes",
            )],
        ));
    }
    let exp = exp.min(48 * 3600);
    let mut binding = crate::tokens::Binding::default();
    if let Some(b) = body.pointer("/spec/boundObjectRef") {
        let kind = b.get("kind").and_then(Value::as_str).unwrap_or_default();
        let bname = b
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (res, slot) = match kind {
            "Pod" => ("/pods", &mut binding.pod),
            "Secret" => ("/secrets", &mut binding.secret),
            other => {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token to object of type {other}"
                )));
            }
        };
        let obj = api.store.get(res, &ns, &bname).ok_or_else(|| {
            ApiError::not_found(Target {
                group: "",
                resource: &res[1..],
                name: &bname,
            })
        })?;
        if let Some(u) = b.get("uid").and_then(Value::as_str)
            && !u.is_empty()
            && u != &*obj.uid
        {
            return Err(ApiError::conflict(
                Target {
                    group: "",
                    resource: &res[1..],
                    name: &bname,
                },
                format!(
                    "the UID in the bound object reference ({u}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
        *slot = Some((bname, obj.uid.to_string()));
    }
    let (token, exp_at) = signer.issue(&ns, name, &sa.uid, &audiences, exp, &binding)?;
    let expiration = jiff::Timestamp::from_second(exp_at)
        .map(meta::format_time)
        .unwrap_or_default();
    let mut out = body.clone();
    if let Some(o) = out.as_object_mut() {
        o.insert("apiVersion".into(), json!("authentication.k8s.io/v1"));
        o.insert("kind".into(), json!("TokenRequest"));
        let mut m = o.get("metadata").cloned().unwrap_or(json!({}));
        m["name"] = json!(name);
        m["namespace"] = json!(ns);
        m["creationTimestamp"] = Value::Null;
        o.insert("metadata".into(), m);
        let mut spec = o.get("spec").cloned().unwrap_or(json!({}));
        spec["audiences"] = json!(if audiences.is_empty() {
            signer.audiences.clone()
        } else {
            audiences
        });
        spec["expirationSeconds"] = json!(exp);
        o.insert("spec".into(), spec);
        o.insert(
            "status".into(),
            json!({"token": token, "expirationTimestamp": expiration}),
        );
    }
    Ok(response::object(StatusCode::CREATED, &out, r.enc))
}

/// Create-only resources that answer without storing: reviews.
pub async fn virtual_create(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
) -> ApiResult<Response<Body>> {
    if r.method != Method::POST {
        return Err(ApiError::method_not_allowed(
            r.method.as_str(),
            target(def, ""),
        ));
    }
    if def.group.is_empty() && def.kind == "Binding" {
        return create_binding(api, r).await;
    }
    let mut body = r.json_body().await?;
    let user = r.user.clone();
    let status = match (def.group.as_str(), def.kind.as_str()) {
        ("authentication.k8s.io", "SelfSubjectReview") => json!({"userInfo": user_info(&user)}),
        ("authentication.k8s.io", "TokenReview") => {
            let token = body
                .pointer("/spec/token")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let requested = spec_audiences(&body);
            // Service account tokens are checked against the requested audiences (the server's
            // when none are given); other tokens are only valid for the server itself.
            let reviewed = api
                .tokens
                .as_ref()
                .and_then(|signer| signer.review(token, &requested))
                .or_else(|| {
                    let server: Vec<String> = api
                        .tokens
                        .as_ref()
                        .map(|s| s.audiences.clone())
                        .unwrap_or_default();
                    let granted: Vec<String> = if requested.is_empty() {
                        server
                    } else {
                        requested
                            .iter()
                            .filter(|r| server.contains(r))
                            .cloned()
                            .collect()
                    };
                    (requested.is_empty() || !granted.is_empty())
                        .then(|| api.auth.authenticate_token(token))
                        .flatten()
                        .map(|u| (u, granted))
                });
            match reviewed {
                Some((u, audiences)) => {
                    json!({"authenticated": true, "user": user_info(&u), "audiences": audiences})
                }
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            }
        }
        ("authorization.k8s.io", "SelfSubjectRulesReview") => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        ("authorization.k8s.io", _) => {
            let verb = body
                .pointer("/spec/resourceAttributes/verb")
                .or_else(|| body.pointer("/spec/nonResourceAttributes/verb"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let resource = body
                .pointer("/spec/resourceAttributes/resource")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let allowed = crate::auth::authorize(&user, verb, resource).is_ok();
            json!({"allowed": allowed, "reason": if allowed { "all authenticated users are authorized" } else { "" }})
        }
        _ => return Err(ApiError::method_not_allowed("create", target(def, ""))),
    };
    if let Some(o) = body.as_object_mut() {
        o.insert("status".into(), status);
        o.insert("apiVersion".into(), json!(def.api_version()));
        o.insert("kind".into(), json!(def.kind));
        o.entry("metadata")
            .or_insert_with(|| json!({"creationTimestamp": null}));
    }
    Ok(response::object(StatusCode::CREATED, &body, r.enc))
}

fn user_info(u: &crate::auth::User) -> Value {
    let mut v = json!({"username": u.name, "groups": u.groups});
    if !u.uid.is_empty() {
        v["uid"] = json!(u.uid);
    }
    v
}

/// Used by create of `bindings` (POST /api/v1/namespaces/{ns}/bindings).
pub async fn create_binding(api: &Arc<Api>, r: &mut Req) -> ApiResult<Response<Body>> {
    let body = r.json_body().await?;
    let name = meta::name(&body).to_string();
    bind(api, r, &name, &body).await
}

/// Grace-0 deletion used by the kubelet path and control loops.
pub async fn force_delete(api: &Api, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<()> {
    let opts = DeleteOptions {
        grace: Some(0),
        ..Default::default()
    };
    match delete_object(api, def, ns, name, &opts).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// `spec.audiences` of a TokenRequest or TokenReview body.
fn spec_audiences(body: &Value) -> Vec<String> {
    body.pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_strings() {
        let s = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]});
        assert_eq!(selector_string(&s), "app=web,tier in (a,b)");
    }

    #[test]
    fn scale_object() {
        let obj = json!({"metadata": {"name": "d", "namespace": "n"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"a": "b"}}}, "status": {"replicas": 2}});
        let s = scale_of(
            &obj,
            &(
                "spec.replicas".into(),
                "status.replicas".into(),
                Some("spec.selector".into()),
            ),
        );
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["selector"], "a=b");
    }
}
