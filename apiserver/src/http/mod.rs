//! HTTP entry point: authentication, routing, and the non-resource endpoints.

pub mod request;
pub mod response;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use crate::api::Api;
use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use request::{RequestInfo, Route};
use response::{Body, Encoding};

/// Largest accepted request body (upstream's 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// A resource request after routing and authentication.
pub struct Req {
    /// HTTP method.
    pub method: Method,
    /// What the path addresses.
    pub info: RequestInfo,
    /// Query parameters (last value wins).
    pub query: HashMap<String, String>,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// The authenticated user.
    pub user: User,
    /// Response encoding.
    pub enc: Encoding,
    /// Whether the client asked for `meta.k8s.io/v1` Tables (kubectl get).
    pub table: bool,
    /// The body, until read.
    pub body: Option<Incoming>,
    /// Request extensions (they carry the connection upgrade for proxied subresources).
    pub extensions: http::Extensions,
    /// Path and query as received (for proxying).
    pub path_and_query: String,
}

impl Req {
    /// A query parameter.
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    /// A boolean query parameter (`true`/`1`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.q(key), Some("true") | Some("1"))
    }

    /// A header as text.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }

    /// Reads the whole body (at most [`MAX_BODY`]).
    pub async fn bytes(&mut self) -> ApiResult<Bytes> {
        let Some(body) = self.body.take() else {
            return Ok(Bytes::new());
        };
        let limited = http_body_util::Limited::new(body, MAX_BODY);
        match limited.collect().await {
            Ok(c) => Ok(c.to_bytes()),
            Err(e) => {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Err(ApiError::too_large(MAX_BODY))
                } else {
                    Err(ApiError::bad_request(format!("reading request body: {e}")))
                }
            }
        }
    }

    /// The body decoded by its content type (JSON or YAML).
    pub async fn json_body(&mut self) -> ApiResult<Value> {
        let ct = self
            .header("content-type")
            .unwrap_or("application/json")
            .to_string();
        let bytes = self.bytes().await?;
        decode_body(&ct, &bytes)
    }
}

/// Decodes a JSON or YAML body; other media types are 415.
pub fn decode_body(content_type: &str, bytes: &[u8]) -> ApiResult<Value> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if bytes.is_empty() {
        return Err(ApiError::bad_request("request body is empty"));
    }
    let v: Value = match media {
        "application/json" | "" | "*/*" => serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => serde_yaml::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(format!(
            "the body of the request was in an unknown format: expected a JSON object, got {}",
            match v {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )));
    }
    Ok(v)
}

/// Paths anonymous clients may read (upstream's `system:public-info-viewer`).
fn is_public(path: &str) -> bool {
    matches!(path, "/version" | "/healthz" | "/livez" | "/readyz")
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}

/// Serves one request.
pub async fn serve(
    api: Arc<Api>,
    req: Request<Incoming>,
    cert_user: Option<User>,
) -> Response<Body> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let user = cert_user.or_else(|| bearer(&api, req.headers()));
    let resp = match user {
        None if !is_public(&path) => response::error(&ApiError::unauthorized()),
        user => {
            let user = user.unwrap_or_else(|| {
                User::new(
                    "system:anonymous",
                    "",
                    ["system:unauthenticated".to_string()],
                )
            });
            dispatch(&api, req, user).await
        }
    };
    api.metrics
        .observe(&method, &path, resp.status().as_u16(), start.elapsed());
    resp
}

fn bearer(api: &Api, headers: &http::HeaderMap) -> Option<User> {
    let h = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))?
        .trim();
    api.auth.authenticate_token(token)
}

async fn dispatch(api: &Arc<Api>, req: Request<Incoming>, user: User) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let query: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let accept = parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let path = parts.uri.path().to_string();
    let route = request::route(&path);
    if let Route::Other(p) = &route {
        return crate::handlers::other::serve(api, &parts.method, p, &parts.headers, &query).await;
    }
    let enc = match negotiate_for(accept, &route) {
        Ok(e) => e,
        Err(e) => return response::error(&e),
    };
    if matches!(route, Route::CoreVersions | Route::Groups)
        && let Some(v) = crate::handlers::discovery::aggregated_version(accept)
    {
        return crate::handlers::discovery::aggregated(
            api,
            route == Route::CoreVersions,
            v,
            &parts.headers,
        );
    }
    match route {
        Route::CoreVersions => crate::handlers::discovery::core_versions(api, &parts.headers, enc),
        Route::Groups => crate::handlers::discovery::groups(api, &parts.headers, enc),
        Route::Group(g) => crate::handlers::discovery::group(api, &g, enc),
        Route::ResourceList { group, version } => {
            crate::handlers::discovery::resource_list(api, &group, &version, enc)
        }
        Route::Resource(info) => {
            let table = wants_table(accept);
            let r = Req {
                method: parts.method,
                info,
                query,
                headers: parts.headers,
                user,
                enc,
                table,
                body: Some(body),
                extensions: parts.extensions,
                path_and_query,
            };
            crate::handlers::resource(api, r).await
        }
        Route::Other(_) => response::error(&ApiError::no_route()),
    }
}

/// Negotiation that lets aggregated-discovery and Table requests fall back to plain JSON.
fn negotiate_for(accept: Option<&str>, _route: &Route) -> ApiResult<Encoding> {
    response::negotiate(accept)
}

/// Whether the first media type the server can produce is a `meta.k8s.io` Table.
pub fn wants_table(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or_default();
        if media != "application/json" && media != "*/*" && media != "application/*" {
            continue;
        }
        let (mut as_, mut g, mut v) = (None, None, None);
        for p in params {
            match p.split_once('=') {
                Some(("as", x)) => as_ = Some(x),
                Some(("g", x)) => g = Some(x),
                Some(("v", x)) => v = Some(x),
                _ => {}
            }
        }
        match as_ {
            Some("Table") => {
                return g == Some("meta.k8s.io") && matches!(v, Some("v1") | Some("v1beta1"));
            }
            Some(_) => continue,
            None => return false,
        }
    }
    false
}

/// A 200 `ok` text response.
pub fn ok_text() -> Response<Body> {
    response::text(StatusCode::OK, "ok")
}
