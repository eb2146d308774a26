//! Routing a resource request to the handler of its verb.

use std::sync::Arc;

use http::{Method, Response};

use super::{delete, read, subresource, watch, write};
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::registry::ResourceDef;

/// Routes a resource request to its handler.
pub async fn resource(api: &Arc<Api>, mut r: Req) -> Response<Body> {
    let info = r.info.clone();
    let Some(def) = api
        .registry
        .find(&info.group, &info.version, &info.resource)
    else {
        if !api
            .registry
            .serves_builtin_group_version(&info.group, &info.version)
        {
            return response::page_not_found();
        }
        return response::error(&ApiError::no_route());
    };
    if (info.namespace.is_some() && !def.namespaced)
        || (!def.namespaced && info.legacy_watch && info.namespace.is_some())
    {
        return response::error(&ApiError::no_route());
    }
    // Authorization happened before routing (router.rs → authz), as upstream's filter chain.
    let verb = crate::http::request::verb(&r.method, &info, r.flag("watch"));
    let result = match info.subresource.as_deref() {
        None => main_resource(api, &def, &mut r, verb).await,
        Some(sub) => {
            if def.subresource(sub).is_none() {
                Err(ApiError::no_route())
            } else {
                subresource::serve(api, &def, &mut r, sub).await
            }
        }
    };
    let resp = result.unwrap_or_else(|e| response::error(&e));
    match def.strategy.warning() {
        Some(w) => super::body::with_warnings(resp, &[w.to_string()]),
        None => resp,
    }
}

async fn main_resource(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
    verb: &str,
) -> ApiResult<Response<Body>> {
    if def.is_computed() {
        return Ok(super::computed::serve(api, def, r, verb));
    }
    let watchable = verb == "watch" && def.supports("list");
    if !(def.supports(verb) || watchable) {
        return Err(ApiError::method_not_allowed(
            verb,
            Target {
                group: &def.group,
                resource: &def.resource,
                name: "",
            },
        ));
    }
    if !def.is_stored() {
        return super::review::virtual_create(api, def, r).await;
    }
    match (verb, &r.method) {
        ("get", _) => read::get(api, def, r),
        ("list", _) => read::list(api, def, r).await,
        ("watch", _) => watch::watch(api.clone(), def.clone(), r).await,
        ("create", &Method::POST) => write::create(api, def, r).await,
        ("update", _) => write::update(api, def, r, None).await,
        ("patch", _) => write::patch(api, def, r, None).await,
        ("delete", _) => delete::delete(api, def, r).await,
        ("deletecollection", _) => delete::delete_collection(api, def, r).await,
        _ => Err(ApiError::method_not_allowed(
            verb,
            Target {
                group: &def.group,
                resource: &def.resource,
                name: "",
            },
        )),
    }
}
