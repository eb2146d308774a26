//! The kubelet-proxied subresources (`pods/log`, `exec`, `attach`, `portforward`, `proxy`,
//! `nodes/proxy`): forwarded to the kubelet of the pod's node.

use std::sync::Arc;

use http::Response;

use crate::api::Api;
use crate::error::{ApiError, ApiResult};
use crate::http::Req;
use crate::http::response::Body;
use crate::registry::ResourceDef;

/// Forwards a kubelet subresource request.
pub async fn proxy(_api: &Arc<Api>, _def: &ResourceDef, _r: &mut Req, sub: &str) -> ApiResult<Response<Body>> {
    Err(ApiError::unavailable(format!("{sub}: the kubelet proxy is not available on this server yet")))
}
