//! Subresources: status, binding, eviction, token, finalize and the kubelet-proxied ones
//! (`scale` is in `scale.rs`).

use std::sync::Arc;

use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::write;
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target, success_status};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::meta;
use crate::registry::ResourceDef;
use crate::storage::{DeleteOptions, delete_object, durable, store_error};
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
    if let Some(part) = def.subresource(sub).filter(|s| s.is_partial_update()) {
        let allowed = |verb: &str| part.verbs.contains(&verb);
        return match method {
            Method::GET if allowed("get") => super::read::get(api, def, r),
            Method::PUT if allowed("update") => write::update(api, def, r, Some(sub)).await,
            Method::PATCH if allowed("patch") => write::patch(api, def, r, Some(sub)).await,
            _ => Err(ApiError::method_not_allowed(
                method.as_str(),
                target(def, &name),
            )),
        };
    }
    match (sub, &method) {
        ("scale", _) => super::scale::scale(api, def, r, &name).await,
        ("binding", &Method::POST) => {
            let body = r.json_body().await?;
            bind(api, r, &name, &body).await
        }
        ("eviction", &Method::POST) => super::eviction::evict(api, def, r, &name).await,
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
                crate::storage::after_write(api, &pods, None, Some(&pod));
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
    // kubectl up to 1.31 sends `"boundObjectRef": null` for an unbound token.
    if let Some(b) = body
        .pointer("/spec/boundObjectRef")
        .filter(|b| !b.is_null())
    {
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
pub(super) fn spec_audiences(body: &Value) -> Vec<String> {
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
