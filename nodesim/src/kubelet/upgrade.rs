//! Upgrading a streaming request: negotiating SPDY/3.1 or WebSocket and their subprotocols, and
//! the `101 Switching Protocols` answer.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::response::{Body, text};
use crate::stream::protocol;

/// The negotiated upgrade: SPDY with its subprotocol, or WebSocket with its subprotocol and
/// `Sec-WebSocket-Accept`.
pub(super) enum Upgrade {
    Spdy(Option<String>),
    Ws(Option<String>, String),
}

/// Negotiates the upgrade or returns the kubelet's error response.
pub(super) fn negotiate(
    req: &Request<Incoming>,
    spdy: &[&str],
    ws: &[&str],
) -> Result<Upgrade, Box<Response<Body>>> {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if upgrade == "websocket" {
        let key = req
            .headers()
            .get(header::SEC_WEBSOCKET_KEY)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Box::new(text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key")))?;
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let offered = protocol::split_values(
            req.headers()
                .get_all(header::SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        if offered.is_empty() {
            return Ok(Upgrade::Ws(None, accept));
        }
        return match protocol::negotiate_ws(&offered, ws) {
            Some(p) => Ok(Upgrade::Ws(Some(p), accept)),
            None => Err(Box::new(text(
                StatusCode::BAD_REQUEST,
                format!(
                    "unable to upgrade: unsupported WebSocket subprotocols {offered:?}; supported: {ws:?}"
                ),
            ))),
        };
    }
    if upgrade.starts_with("spdy/3.1") {
        let offered = protocol::split_values(
            req.headers()
                .get_all("x-stream-protocol-version")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        return match protocol::negotiate_spdy(&offered, spdy) {
            Ok(p) => Ok(Upgrade::Spdy(p)),
            Err(msg) => {
                let mut r = text(StatusCode::FORBIDDEN, msg);
                for p in spdy {
                    if let Ok(v) = HeaderValue::from_str(p) {
                        r.headers_mut()
                            .append("x-accepted-stream-protocol-versions", v);
                    }
                }
                Err(Box::new(r))
            }
        };
    }
    Err(Box::new(text(
        StatusCode::BAD_REQUEST,
        "unable to upgrade: missing upgrade headers in request",
    )))
}

/// The `101 Switching Protocols` response for `up`.
pub(super) fn switching(up: &Upgrade) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()).boxed_unsync());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    match up {
        Upgrade::Spdy(p) => {
            h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
            if let Some(p) = p.as_deref().and_then(|p| HeaderValue::from_str(p).ok()) {
                h.insert("x-stream-protocol-version", p);
            }
        }
        Upgrade::Ws(p, accept) => {
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            if let Ok(v) = HeaderValue::from_str(accept) {
                h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
            }
            if let Some(p) = p.as_deref().and_then(|p| HeaderValue::from_str(p).ok()) {
                h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
            }
        }
    }
    r
}
