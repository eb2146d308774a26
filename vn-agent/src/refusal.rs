//! Why vn-agent refuses a request, and the Kubernetes `Status` body that says so.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::json;

use common::kubelet_proxy::ProxyBody;

/// A request vn-agent answers itself, with an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub code: StatusCode,
    /// A short, bounded label for metrics and logs (e.g. `foreign_pod`).
    pub kind: &'static str,
    /// The human-readable reason, sent to the client.
    pub message: String,
}

impl Refusal {
    /// A refusal with `code`, metric label `kind` and `message`.
    pub fn new(code: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            code,
            kind,
            message: message.into(),
        }
    }

    /// 403 Forbidden.
    pub fn forbidden(kind: &'static str, message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::FORBIDDEN, kind, message)
    }

    /// 404 Not Found.
    pub fn not_found(kind: &'static str, message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::NOT_FOUND, kind, message)
    }

    /// 400 Bad Request.
    pub fn bad_request(kind: &'static str, message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, kind, message)
    }

    /// The Kubernetes `reason` matching the status code.
    pub fn status_reason(&self) -> &'static str {
        match self.code {
            StatusCode::BAD_REQUEST => "BadRequest",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
            StatusCode::GATEWAY_TIMEOUT => "Timeout",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
            _ => "InternalError",
        }
    }

    /// The refusal as a `meta/v1 Status` JSON response.
    pub fn into_response(self) -> Response<ProxyBody> {
        let body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.status_reason(),
            "code": self.code.as_u16(),
        });
        let mut resp = Response::new(
            Full::new(Bytes::from(body.to_string()))
                .map_err(|never| match never {})
                .boxed(),
        );
        *resp.status_mut() = self.code;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code.as_u16(),
            self.kind,
            self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_a_status_body() {
        let resp =
            Refusal::forbidden("foreign_pod", "pod a/b belongs to another tenant").into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["reason"], "Forbidden");
        assert_eq!(v["code"], 403);
        assert_eq!(v["message"], "pod a/b belongs to another tenant");
    }
}
