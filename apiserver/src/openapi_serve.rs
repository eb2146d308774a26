//! Serving `/openapi/v2` and `/openapi/v3` (documents built by the `openapi` module).

use std::collections::HashMap;

use http::{HeaderMap, Response};

use crate::api::Api;
use crate::error::ApiError;
use crate::http::response::{self, Body};

/// Serves an OpenAPI path.
pub fn serve(
    _api: &Api,
    _path: &str,
    _headers: &HeaderMap,
    _query: &HashMap<String, String>,
) -> Response<Body> {
    response::error(&ApiError::no_route())
}
