//! Forwards one HTTP request to a kubelet-style HTTPS endpoint, presenting a client certificate.
//!
//! Bodies stream both ways (a `follow` log never buffers). Connection upgrades (SPDY/3.1 and
//! WebSocket, as `kubectl exec/attach/port-forward` use them) pass through: the Upgrade headers go
//! upstream, the upstream's `101 Switching Protocols` goes back to the caller, and once both sides
//! have switched the two raw connections are spliced. A non-101 answer to an upgrade request is
//! passed back as it is (the kubelet's own error).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A boxed error, as bodies carry them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a proxied response: the upstream's, streamed.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// Errors of forwarding a request.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The upstream address is not `https://host:port`.
    #[error("invalid kubelet address {0:?}: expected https://host[:port]")]
    InvalidUpstream(String),
    /// The path to forward is not a valid origin-form path.
    #[error("invalid path {0:?}")]
    InvalidPath(String),
    /// TCP connect failed.
    #[error("cannot connect to kubelet {addr}: {source}")]
    Connect {
        /// The upstream.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// TLS handshake failed.
    #[error("TLS handshake with kubelet {addr} failed: {source}")]
    Tls {
        /// The upstream.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// Connect and handshake took longer than the connect timeout.
    #[error("timed out connecting to kubelet {0}")]
    Timeout(String),
    /// The HTTP exchange failed.
    #[error("kubelet {addr} request failed: {source}")]
    Http {
        /// The upstream.
        addr: String,
        /// Why.
        source: hyper::Error,
    },
    /// The upstream switched protocols although the caller did not ask to upgrade.
    #[error("kubelet {0} switched protocols without an upgrade request")]
    UnexpectedUpgrade(String),
}

impl ProxyError {
    /// The HTTP status a caller should answer with: 504 for timeouts, 502 otherwise (400 for a
    /// bad path).
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::InvalidPath(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

/// A kubelet endpoint: host and port of `https://host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    host: String,
    port: u16,
}

impl Upstream {
    /// The kubelet at `host:port` (an IPv6 host without brackets).
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Upstream {
            host: host.into(),
            port,
        }
    }

    /// Parses `https://host[:port]` (port 10250 when absent, the kubelet's).
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let bad = || ProxyError::InvalidUpstream(url.to_string());
        let uri: Uri = url.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("https") {
            return Err(bad());
        }
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(bad());
        }
        let authority = uri.authority().ok_or_else(bad)?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Upstream::new(host, authority.port_u16().unwrap_or(10250)))
    }

    /// The host name or IP.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, bracketing IPv6 addresses (the Host header and log form).
    pub fn authority(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]:{}", self.host, self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "https://{}", self.authority())
    }
}

/// Forwards requests to kubelets over TLS with one client configuration.
#[derive(Clone)]
pub struct KubeletProxy {
    connector: TlsConnector,
    connect_timeout: Duration,
}

impl std::fmt::Debug for KubeletProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletProxy")
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl KubeletProxy {
    /// A proxy using `tls` (which carries the client certificate and the server verification).
    /// ALPN is forced to HTTP/1.1: upgrades only exist there.
    pub fn new(mut tls: ClientConfig) -> Self {
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        KubeletProxy {
            connector: TlsConnector::from(Arc::new(tls)),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Sets how long TCP connect plus TLS handshake may take (default 10 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Forwards `req` to `upstream` at `path_and_query` (origin form, e.g.
    /// `/containerLogs/ns/pod/c?follow=true`). The caller's method, headers (less hop-by-hop and
    /// credentials) and body go up; the kubelet's status, headers and body come back, streamed.
    pub async fn forward<B>(
        &self,
        upstream: &Upstream,
        path_and_query: &str,
        mut req: Request<B>,
    ) -> Result<Response<ProxyBody>, ProxyError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let uri: Uri = path_and_query
            .parse()
            .ok()
            .filter(|u: &Uri| u.scheme().is_none() && u.path().starts_with('/'))
            .ok_or_else(|| ProxyError::InvalidPath(path_and_query.to_string()))?;
        let upgrade = upgrade_protocol(req.headers());
        let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        let mut out = Request::new(body);
        *out.method_mut() = parts.method;
        *out.uri_mut() = uri;
        *out.version_mut() = Version::HTTP_11;
        *out.headers_mut() = forwarded_headers(&parts.headers, upgrade.as_ref());
        if let Ok(host) = HeaderValue::from_str(&upstream.authority()) {
            out.headers_mut().insert(header::HOST, host);
        }

        let mut sender = self.connect(upstream).await?;
        let mut resp = sender
            .send_request(out)
            .await
            .map_err(|source| ProxyError::Http {
                addr: upstream.authority(),
                source,
            })?;

        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_upgrade) = client_upgrade else {
                return Err(ProxyError::UnexpectedUpgrade(upstream.authority()));
            };
            let upstream_upgrade = hyper::upgrade::on(&mut resp);
            tokio::spawn(splice(
                client_upgrade,
                upstream_upgrade,
                upstream.authority(),
            ));
            let (parts, _) = resp.into_parts();
            return Ok(Response::from_parts(parts, empty()));
        }
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(
            parts,
            body.map_err(|e| Box::new(e) as BoxError).boxed(),
        ))
    }

    async fn connect<B>(
        &self,
        upstream: &Upstream,
    ) -> Result<hyper::client::conn::http1::SendRequest<B>, ProxyError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let addr = upstream.authority();
        let server_name = ServerName::try_from(upstream.host().to_string())
            .map_err(|_| ProxyError::InvalidUpstream(upstream.to_string()))?;
        let connecting = async {
            let tcp = TcpStream::connect((upstream.host(), upstream.port()))
                .await
                .map_err(|source| ProxyError::Connect {
                    addr: addr.clone(),
                    source,
                })?;
            let _ = tcp.set_nodelay(true);
            self.connector
                .connect(server_name, tcp)
                .await
                .map_err(|source| ProxyError::Tls {
                    addr: addr.clone(),
                    source,
                })
        };
        let tls = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| ProxyError::Timeout(addr.clone()))??;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|source| ProxyError::Http {
                addr: addr.clone(),
                source,
            })?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(kubelet = %addr, error = %e, "kubelet connection ended with an error");
            }
        });
        Ok(sender)
    }
}

/// Waits for both sides to switch protocols, then copies bytes both ways until either closes.
async fn splice(client: OnUpgrade, upstream: OnUpgrade, addr: String) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(kubelet = %addr, error = %e, "upgrade did not complete");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((up, down)) => {
            tracing::debug!(kubelet = %addr, bytes_up = up, bytes_down = down, "upgraded stream closed");
        }
        Err(e) => {
            tracing::debug!(kubelet = %addr, error = %e, "upgraded stream ended with an error")
        }
    }
}

fn empty() -> ProxyBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// The protocol asked for when the request is an upgrade (`Connection: upgrade` + `Upgrade`).
pub fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if !asks {
        return None;
    }
    headers.get(header::UPGRADE).cloned()
}

/// Headers that describe one connection and never cross a proxy (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
];

/// Removes hop-by-hop headers, including those the Connection header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The caller's headers as they go to the kubelet: no hop-by-hop headers, no caller
/// credentials (the kubelet authenticates the proxy's own certificate), and for an upgrade the
/// Connection/Upgrade pair put back.
fn forwarded_headers(incoming: &HeaderMap, upgrade: Option<&HeaderValue>) -> HeaderMap {
    let mut headers = incoming.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::PROXY_AUTHORIZATION);
    headers.remove(header::HOST);
    if let Some(proto) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, proto.clone());
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn parses_upstreams() {
        assert_eq!(
            Upstream::parse("https://127.0.0.1:10250").unwrap(),
            Upstream::new("127.0.0.1", 10250)
        );
        assert_eq!(
            Upstream::parse("https://node-1").unwrap(),
            Upstream::new("node-1", 10250)
        );
        let v6 = Upstream::parse("https://[::1]:9").unwrap();
        assert_eq!(v6.host(), "::1");
        assert_eq!(v6.authority(), "[::1]:9");
        for bad in ["http://x:1", "x:1", "https://x:1/path", "https://:1"] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn detects_upgrades() {
        let h = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "SPDY/3.1"),
        ]);
        assert_eq!(upgrade_protocol(&h).unwrap(), "SPDY/3.1");
        assert!(upgrade_protocol(&map(&[("upgrade", "websocket")])).is_none());
        assert!(upgrade_protocol(&map(&[("connection", "upgrade")])).is_none());
    }

    #[test]
    fn forwarded_headers_drop_hop_by_hop_and_credentials() {
        let h = map(&[
            ("connection", "Upgrade, X-Private"),
            ("upgrade", "websocket"),
            ("x-private", "1"),
            ("keep-alive", "timeout=5"),
            ("authorization", "Bearer secret"),
            ("host", "front"),
            ("sec-websocket-protocol", "v5.channel.k8s.io"),
            ("x-stream-protocol-version", "v4.channel.k8s.io"),
            ("x-stream-protocol-version", "v3.channel.k8s.io"),
        ]);
        let up = upgrade_protocol(&h);
        let out = forwarded_headers(&h, up.as_ref());
        assert_eq!(out.get("connection").unwrap(), "Upgrade");
        assert_eq!(out.get("upgrade").unwrap(), "websocket");
        assert!(out.get("x-private").is_none());
        assert!(out.get("keep-alive").is_none());
        assert!(out.get("authorization").is_none());
        assert!(out.get("host").is_none());
        assert_eq!(out.get_all("x-stream-protocol-version").iter().count(), 2);
        assert!(out.get("sec-websocket-protocol").is_some());

        let plain = forwarded_headers(
            &map(&[("transfer-encoding", "chunked"), ("accept", "*/*")]),
            None,
        );
        assert!(plain.get("transfer-encoding").is_none());
        assert!(plain.get("connection").is_none());
        assert_eq!(plain.get("accept").unwrap(), "*/*");
    }

    #[test]
    fn error_statuses() {
        assert_eq!(
            ProxyError::Timeout("x".into()).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            ProxyError::InvalidPath("x".into()).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ProxyError::UnexpectedUpgrade("x".into()).status(),
            StatusCode::BAD_GATEWAY
        );
    }
}
