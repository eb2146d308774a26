//! Field management: `managedFields` bookkeeping, strategic merge patch and server-side apply.
//! The algorithms live in `schema`, `patch` and `apply`; this module adapts them to requests.

use http::Response;
use serde_json::Value;

use crate::api::Api;
use crate::error::{ApiError, ApiResult};
use crate::handlers::write::Actor;
use crate::http::Req;
use crate::http::response::Body;
use crate::registry::ResourceDef;

/// Records the writer of a create/update in `managedFields`.
pub fn record_update(
    _actor: &Actor,
    _old: Option<&Value>,
    _new: &mut Value,
    _subresource: Option<&str>,
) {
}

/// Strategic merge patch of a built-in object.
pub fn strategic(
    _api: &Api,
    _def: &ResourceDef,
    _current: &Value,
    _body: &[u8],
) -> ApiResult<Value> {
    Err(ApiError::unsupported_media_type(
        crate::patching::STRATEGIC_PATCH,
    ))
}

/// Server-side apply to an existing object.
pub fn apply_existing(
    _api: &Api,
    _def: &ResourceDef,
    _r: &Req,
    _current: &Value,
    _body: &[u8],
) -> ApiResult<Value> {
    Err(ApiError::unsupported_media_type(
        crate::patching::APPLY_PATCH,
    ))
}

/// Server-side apply creating the object.
pub async fn apply_create(
    _api: &Api,
    _def: &ResourceDef,
    _r: &Req,
    _body: &[u8],
    _dry_run: bool,
) -> ApiResult<Response<Body>> {
    Err(ApiError::unsupported_media_type(
        crate::patching::APPLY_PATCH,
    ))
}
