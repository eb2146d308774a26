//! HTTP plumbing shared by the handlers: the routed request, body decoding, content
//! negotiation (the entry point that authenticates and routes is `router`).

pub mod nesting;
pub mod request;
pub mod response;

use std::collections::HashMap;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use request::RequestInfo;
use response::{Body, Encoding};

/// The address a request's connection came from (a request extension set by the accept loop),
/// for the `X-Forwarded-For` a proxied request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

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

/// Decodes a JSON, YAML or Kubernetes protobuf body (kubectl 1.32+ and client-go send protobuf
/// for reviews, token requests and delete options); other media types are 415.
pub fn decode_body(content_type: &str, bytes: &[u8]) -> ApiResult<Value> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if bytes.is_empty() {
        return Err(ApiError::bad_request("request body is empty"));
    }
    nesting::check_nesting(bytes)?;
    let v: Value = match media {
        crate::protobuf::CONTENT_TYPE => crate::protobuf::decode(bytes).map_err(|e| {
            ApiError::bad_request(format!("error decoding protobuf request body: {e}"))
        })?,
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

/// Whether `accept` allows a plain object (no `as=Table`/`as=PartialObjectMetadata`
/// conversion), as endpoints without a table convertor require.
pub fn accepts_plain_object(accept: Option<&str>) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    accept.split(',').any(|part| {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or_default();
        let plain = !params.any(|p| p.starts_with("as="));
        plain
            && matches!(
                media,
                "application/json"
                    | "application/yaml"
                    | "application/vnd.kubernetes.protobuf"
                    | "application/*"
                    | "*/*"
            )
    })
}

/// A 200 `ok` text response.
pub fn ok_text() -> Response<Body> {
    response::text(StatusCode::OK, "ok")
}
