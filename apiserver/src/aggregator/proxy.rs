//! Proxying a request to an aggregated API server, as upstream's proxy handler does: an
//! unavailable APIService (or an unresolvable service) is a plain-text 503 `service
//! unavailable`; otherwise the request goes to the same path and query on the backend with the
//! caller's headers less credentials and hop-by-hop ones, the user as `X-Remote-*`; the
//! response streams back (watches included) and upgrades are spliced both ways.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::Remote;
use super::backend::{self, BackendError};
use crate::api::Api;
use crate::auth::User;
use crate::http::PeerAddr;
use crate::http::response::{self, Body};

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Headers that describe one connection and never cross a proxy, and credentials the server
/// consumed itself.
const DROPPED: [&str; 10] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "authorization",
    "host",
];

/// The request headers sent upstream.
fn outgoing_headers(
    incoming: &HeaderMap,
    upgrade: Option<&HeaderValue>,
    user: &User,
    peer: Option<IpAddr>,
) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in incoming {
        let name = k.as_str();
        if DROPPED.contains(&name) || name.starts_with("impersonate-") {
            continue;
        }
        out.append(k.clone(), v.clone());
    }
    if let Some(proto) = upgrade {
        out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        out.insert(header::UPGRADE, proto.clone());
    }
    backend::set_identity(&mut out, user);
    if let Some(ip) = peer {
        append_forwarded_for(&mut out, ip);
    }
    out
}

/// Appends the caller's address to `X-Forwarded-For` as upstream's proxy (Go's reverse proxy)
/// does: earlier hops joined by `, `, then this one.
fn append_forwarded_for(h: &mut HeaderMap, ip: IpAddr) {
    let prior: Vec<&str> = (h.get_all(X_FORWARDED_FOR).iter())
        .filter_map(|v| v.to_str().ok())
        .collect();
    let value = if prior.is_empty() {
        ip.to_string()
    } else {
        format!("{}, {ip}", prior.join(", "))
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(X_FORWARDED_FOR, v);
    }
}

fn strip_response_headers(h: &mut HeaderMap) {
    for name in &DROPPED[..7] {
        h.remove(*name);
    }
}

/// Upstream's answer when an aggregated API cannot be reached.
fn unavailable(text: &str) -> Response<Body> {
    let mut r = response::text(StatusCode::SERVICE_UNAVAILABLE, format!("{text}\n"));
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Proxies `req` to the APIService's backend.
pub async fn serve(
    api: &Api,
    remote: &Remote,
    mut req: Request<Incoming>,
    user: &User,
) -> Response<Body> {
    if !remote.available {
        return unavailable("service unavailable");
    }
    let target = match backend::resolve(api, remote) {
        Ok(t) => t,
        Err(BackendError::Config(e)) => {
            return response::text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"));
        }
        Err(e) => {
            tracing::info!(apiservice = %remote.name, error = %e, "resolving aggregated API");
            return unavailable("service unavailable");
        }
    };
    let peer = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
    let upgrade = common::kubelet_proxy::upgrade_protocol(req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut out = Request::new(body);
    *out.method_mut() = parts.method;
    *out.headers_mut() = outgoing_headers(&parts.headers, upgrade.as_ref(), user, peer);
    match path_and_query.parse() {
        Ok(uri) => *out.uri_mut() = uri,
        Err(_) => return response::text(StatusCode::BAD_REQUEST, "invalid path\n"),
    }
    if let Ok(host) = HeaderValue::from_str(&target.authority()) {
        out.headers_mut().insert(header::HOST, host);
    }
    let resp = async {
        let mut sender = backend::connect::<Incoming>(&target).await?;
        sender
            .send_request(out)
            .await
            .map_err(|e| BackendError::Http(e.to_string()))
    }
    .await;
    let mut resp = match resp {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(apiservice = %remote.name, error = %e, "proxying to aggregated API");
            return unavailable(&e.to_string());
        }
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client) = client_upgrade {
            let upstream = hyper::upgrade::on(&mut resp);
            tokio::spawn(splice(client, upstream));
        }
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, response::empty());
    }
    let (mut parts, body) = resp.into_parts();
    strip_response_headers(&mut parts.headers);
    // A backend stream that fails midway can only be cut short: the status line is sent.
    let frames = futures::stream::unfold(body, |mut b| async move {
        match b.frame().await {
            Some(Ok(f)) => Some((Ok::<_, std::convert::Infallible>(f), b)),
            _ => None,
        }
    });
    Response::from_parts(parts, http_body_util::StreamBody::new(frames).boxed())
}

/// Copies bytes both ways once both sides have switched protocols.
async fn splice(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let Ok((client, upstream)) = tokio::try_join!(client, upstream) else {
        return;
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hop_by_hop_headers_stay_here() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer secret"));
        h.insert("impersonate-user", HeaderValue::from_static("bob"));
        h.insert("connection", HeaderValue::from_static("keep-alive"));
        h.insert("accept", HeaderValue::from_static("application/json"));
        h.insert("x-remote-user", HeaderValue::from_static("forged"));
        let user = User {
            name: "alice".into(),
            uid: String::new(),
            groups: vec!["system:authenticated".into()],
            extra: Default::default(),
        };
        let out = outgoing_headers(&h, None, &user, None);
        let mut names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["accept", "x-remote-group", "x-remote-user"]);
        assert_eq!(
            out.get("x-remote-user"),
            Some(&HeaderValue::from_static("alice"))
        );
    }

    #[test]
    fn the_caller_is_appended_to_x_forwarded_for() {
        let user = User {
            name: "alice".into(),
            uid: String::new(),
            groups: Vec::new(),
            extra: Default::default(),
        };
        let ip: IpAddr = [10, 0, 0, 9].into();
        let out = outgoing_headers(&HeaderMap::new(), None, &user, Some(ip));
        assert_eq!(
            out.get("x-forwarded-for"),
            Some(&HeaderValue::from_static("10.0.0.9"))
        );
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("192.0.2.1"));
        h.append("x-forwarded-for", HeaderValue::from_static("198.51.100.2"));
        let out = outgoing_headers(&h, None, &user, Some(ip));
        assert_eq!(
            out.get_all("x-forwarded-for").iter().collect::<Vec<_>>(),
            [&HeaderValue::from_static(
                "192.0.2.1, 198.51.100.2, 10.0.0.9"
            )]
        );
    }
}
