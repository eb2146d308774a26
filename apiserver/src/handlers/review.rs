//! Create-only resources: access and token reviews, `SelfSubjectReview`, `bindings`.

use std::sync::Arc;

use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::subresource::{create_binding, spec_audiences};
use crate::api::Api;
use crate::error::{ApiError, ApiResult};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::registry::ResourceDef;
use crate::storage::target;

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
    if !crate::http::accepts_plain_object(r.header("accept")) {
        return Err(ApiError::not_acceptable_media());
    }
    if def.group.is_empty() && def.kind == "Binding" {
        return create_binding(api, r).await;
    }
    let mut body = r.json_body().await?;
    let user = r.user.clone();
    let status = match (def.group.as_str(), def.kind.as_str()) {
        ("authentication.k8s.io", "SelfSubjectReview") => {
            json!({"userInfo": crate::authz::review::user_info(&user)})
        }
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
                    json!({"authenticated": true, "user": crate::authz::review::user_info(&u), "audiences": audiences})
                }
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            }
        }
        ("authorization.k8s.io", "SelfSubjectRulesReview") => {
            crate::authz::review::rules_review(&api.authz, &api.store, &user, &body)
        }
        ("authorization.k8s.io", kind) => {
            let ns = r.info.namespace.clone().unwrap_or_default();
            crate::authz::review::access_review(&api.authz, &api.store, &user, kind, &ns, &body)?
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
