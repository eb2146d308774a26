//! Response construction: JSON/YAML bodies, `Status` errors, streams.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use serde_json::Value;

use crate::error::ApiError;

/// The body type of every response.
pub type Body = BoxBody<Bytes, Infallible>;

/// A body from bytes.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// How the client wants responses encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json`.
    Json,
    /// `application/yaml`.
    Yaml,
}

/// Response encoding from an `Accept` header; `Err` with 406 when nothing acceptable is offered.
pub fn negotiate(accept: Option<&str>) -> Result<Encoding, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Encoding::Json);
    };
    for part in accept.split(',') {
        let media = part.split(';').next().unwrap_or_default().trim();
        match media {
            "application/json" | "*/*" | "application/*" | "" => return Ok(Encoding::Json),
            "application/yaml" => return Ok(Encoding::Yaml),
            _ => {}
        }
    }
    Err(ApiError::not_acceptable(accept))
}

/// A JSON (or YAML) response with the given status.
pub fn object(status: StatusCode, value: &Value, enc: Encoding) -> Response<Body> {
    match enc {
        Encoding::Json => json_bytes(
            status,
            Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        ),
        Encoding::Yaml => {
            let text = serde_yaml::to_string(value).unwrap_or_default();
            with_type(status, full(text), "application/yaml")
        }
    }
}

/// A response of pre-serialized JSON.
pub fn json_bytes(status: StatusCode, body: Bytes) -> Response<Body> {
    with_type(status, full(body), "application/json")
}

/// A response carrying serialized JSON, re-encoded as YAML when asked.
pub fn encoded_bytes(status: StatusCode, body: Bytes, enc: Encoding) -> Response<Body> {
    match enc {
        Encoding::Json => json_bytes(status, body),
        Encoding::Yaml => match serde_json::from_slice::<Value>(&body) {
            Ok(v) => object(status, &v, enc),
            Err(_) => json_bytes(status, body),
        },
    }
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    with_type(status, full(body.into()), "text/plain; charset=utf-8")
}

/// Upstream's answer for a path no API group serves: a plain `404 page not found`.
pub fn page_not_found() -> Response<Body> {
    let mut r = text(StatusCode::NOT_FOUND, "404 page not found\n");
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn with_type(status: StatusCode, body: Body, content_type: &'static str) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("no-cache, private"),
    );
    r
}

/// An error as a `Status` response.
pub fn error(e: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_bytes(
        status,
        Bytes::from(serde_json::to_vec(&e.to_status()).unwrap_or_default()),
    );
    if let Some(secs) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// A streaming response fed by a channel of chunks.
pub fn stream(
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    content_type: &'static str,
) -> Response<Body> {
    let s = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    with_type(
        StatusCode::OK,
        BoxBody::new(StreamBody::new(s)),
        content_type,
    )
}
