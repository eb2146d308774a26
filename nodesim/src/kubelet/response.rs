//! The kubelet's plain responses: the body type, text replies, provider errors, 404.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

use crate::provider::ProviderError;

/// The body of every kubelet response.
pub(super) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A plain-text response with `status`.
pub(super) fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())).boxed_unsync());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The response for a provider failure: 404 for a missing pod or container, 400 for a bad
/// request, 500 otherwise.
pub(super) fn provider_error(e: &ProviderError) -> Response<Body> {
    let status = match e {
        ProviderError::PodNotFound(_) | ProviderError::ContainerNotFound(_) => {
            StatusCode::NOT_FOUND
        }
        ProviderError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ProviderError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    text(status, e.to_string())
}

/// The 404 of an unknown path, worded as the kubelet's router words it.
pub(super) fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "404 page not found\n")
}
