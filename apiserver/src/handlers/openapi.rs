//! Serving `/openapi/v2` and `/openapi/v3` over HTTP from documents built by `openapi_doc` for
//! every served kind (rebuilt when CRDs change).

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::api::Api;
use crate::error::ApiError;
use crate::http::response::{self, Body};
use crate::openapi_doc::{OpenApi, ServedKind};

fn served_kinds(api: &Api) -> Vec<ServedKind> {
    api.registry
        .all()
        .iter()
        .filter(|d| d.is_stored() || d.supports("create"))
        .map(|d| ServedKind {
            group: d.group.clone(),
            version: d.version.clone(),
            kind: d.kind.clone(),
            plural: d.resource.clone(),
            namespaced: d.namespaced,
            verbs: d.verbs.iter().map(|v| v.to_string()).collect(),
            subresources: d
                .subresources
                .iter()
                .filter(|s| s.name == "status" || s.name == "scale")
                .map(|s| s.name.to_string())
                .collect(),
            schema: d.crd.as_ref().and_then(|c| c.schema.clone()),
        })
        .collect()
}

/// The documents for the current set of served kinds.
pub fn documents(api: &Api) -> Result<Arc<OpenApi>, ApiError> {
    let generation = api.registry.generation();
    let mut guard = api.openapi.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((g, docs)) = guard.as_ref()
        && *g == generation
    {
        return Ok(docs.clone());
    }
    let docs = Arc::new(
        OpenApi::build(&served_kinds(api), crate::version::KUBE_VERSION)
            .map_err(|e| ApiError::internal(format!("building OpenAPI documents: {e}")))?,
    );
    *guard = Some((generation, docs.clone()));
    Ok(docs)
}

/// Serves an OpenAPI path.
pub fn serve(
    api: &Api,
    path: &str,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Response<Body> {
    let docs = match documents(api) {
        Ok(d) => d,
        Err(e) => return response::error(&e),
    };
    let header = |k: http::header::HeaderName| headers.get(k).and_then(|v| v.to_str().ok());
    let out = docs.serve(
        path,
        query.get("hash").map(String::as_str),
        header(http::header::ACCEPT),
        header(http::header::IF_NONE_MATCH),
    );
    let mut resp = Response::new(response::full(out.body));
    *resp.status_mut() =
        StatusCode::from_u16(out.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in out.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}
