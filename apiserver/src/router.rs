//! The HTTP entry point: authentication, then routing to discovery, non-resource and resource
//! handlers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::api::Api;
use crate::auth::User;
use crate::error::ApiError;
use crate::http::request::{self, Route};
use crate::http::response::{self, Body};
use crate::http::{Req, wants_table};

/// Serves one request.
pub async fn serve(
    api: Arc<Api>,
    req: Request<Incoming>,
    cert_user: Option<User>,
) -> Response<Body> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // A presented but invalid token is 401; no credentials at all is the anonymous user,
    // whom RBAC then allows only what it grants (upstream's `--anonymous-auth=true`).
    let user = match cert_user {
        Some(u) => Some(u),
        None => match bearer(req.headers()) {
            Some(token) => api.auth.authenticate_token(token),
            None => Some(crate::authz::request::anonymous()),
        },
    };
    let resp = match user {
        None => response::error(&ApiError::unauthorized()),
        Some(user) => dispatch(&api, req, user).await,
    };
    api.metrics
        .observe(&method, &path, resp.status().as_u16(), start.elapsed());
    resp
}

fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let h = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))?
        .trim();
    (!token.is_empty()).then_some(token)
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
    let user = match crate::authz::request::authorize_request(
        &api.authz,
        &api.store,
        user,
        &parts.method,
        &path,
        &query,
        &parts.headers,
    ) {
        Ok(u) => u,
        Err(e) => return response::error(&e),
    };
    if let Some(remote) = crate::aggregator::remote_for_path(api, &path) {
        let req = Request::from_parts(parts, body);
        return crate::aggregator::proxy::serve(api, &remote, req, &user).await;
    }
    let route = request::route(&path);
    if let Route::Other(p) = &route {
        return crate::handlers::other::serve(api, &parts.method, p, &parts.headers, &query).await;
    }
    let enc = match response::negotiate(accept) {
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
