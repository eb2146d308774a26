//! Reaching an aggregated API server: the service resolved to an address, TLS trusting the
//! APIService's `caBundle` (or nothing checked with `insecureSkipTLSVerify`) for the name
//! `<service>.<namespace>.svc`, the front-proxy client certificate presented, and the
//! `X-Remote-*` identity headers.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use super::Remote;
use crate::api::Api;
use crate::auth::User;

/// How long dialling and the TLS handshake may take (Go's dialer in upstream's proxy: 30 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Header naming the user to an aggregated API server.
pub const REMOTE_USER: &str = "x-remote-user";
/// Header naming one group of the user (repeated).
pub const REMOTE_GROUP: &str = "x-remote-group";
/// Prefix of the headers carrying the user's extra attributes.
pub const REMOTE_EXTRA: &str = "x-remote-extra-";

/// Errors reaching an aggregated API server, worded as Go's client words them.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The service has no address.
    #[error("{0}")]
    Resolve(String),
    /// The TLS configuration cannot be built (bad `caBundle`, bad client certificate).
    #[error("{0}")]
    Config(String),
    /// Dialling failed.
    #[error("dial tcp {addr}: {reason}")]
    Dial {
        /// `host:port`.
        addr: String,
        /// Go's wording of the cause.
        reason: String,
    },
    /// The handshake failed.
    #[error("tls: {0}")]
    Tls(String),
    /// The HTTP exchange failed.
    #[error("{0}")]
    Http(String),
    /// Connecting took too long.
    #[error("dial tcp {0}: i/o timeout")]
    Timeout(String),
}

/// A resolved aggregated API server.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Host dialled.
    pub host: String,
    /// Port dialled.
    pub port: u16,
    /// Name its certificate must carry (`<service>.<namespace>.svc`).
    pub server_name: String,
    tls: Arc<rustls::ClientConfig>,
}

impl Backend {
    /// `https://host:port` (IPv6 hosts bracketed), as errors name it.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.authority())
    }

    /// `host:port`.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn tls_config(api: &Api, remote: &Remote) -> Result<rustls::ClientConfig, BackendError> {
    let verification = if remote.insecure {
        common::tls::ServerVerification::Insecure
    } else {
        let roots = if remote.ca_bundle.is_empty() {
            rustls::RootCertStore::empty()
        } else {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(&remote.ca_bundle)
                .map_err(|e| BackendError::Config(format!("invalid caBundle: {e}")))?;
            let certs = common::tls::certs_from_pem(&pem)
                .map_err(|e| BackendError::Config(e.to_string()))?;
            common::tls::root_store(&certs).map_err(|e| BackendError::Config(e.to_string()))?
        };
        common::tls::ServerVerification::Roots(roots)
    };
    let client = match &api.aggregator.proxy_client {
        Some((cert, key)) => Some((
            common::tls::certs_from_pem(cert.as_bytes())
                .map_err(|e| BackendError::Config(e.to_string()))?,
            common::tls::private_key_from_pem(key.as_bytes())
                .map_err(|e| BackendError::Config(e.to_string()))?,
        )),
        None => None,
    };
    common::tls::client_config(verification, client, &[b"http/1.1"])
        .map_err(|e| BackendError::Config(e.to_string()))
}

/// Resolves the APIService's service and builds the TLS client for it.
pub fn resolve(api: &Api, remote: &Remote) -> Result<Backend, BackendError> {
    let (host, port) =
        crate::resolve::service_address(api, &remote.namespace, &remote.service, remote.port)
            .map_err(BackendError::Resolve)?;
    Ok(Backend {
        host,
        port,
        server_name: format!("{}.{}.svc", remote.service, remote.namespace),
        tls: Arc::new(tls_config(api, remote)?),
    })
}

/// Dials every address of `host` in turn; when all fail, the first failure is reported with
/// the address it was for (as Go's dialer reports it).
async fn dial(host: &str, port: u16) -> Result<TcpStream, BackendError> {
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| BackendError::Dial {
            addr: format!("{host}:{port}"),
            reason: format!("lookup {host}: {e}"),
        })?
        .collect();
    let mut first: Option<BackendError> = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                first.get_or_insert(BackendError::Dial {
                    addr: a.to_string(),
                    reason: crate::resolve::go_dial_error(&e),
                });
            }
        }
    }
    Err(first.unwrap_or_else(|| BackendError::Dial {
        addr: format!("{host}:{port}"),
        reason: format!("lookup {host}: no such host"),
    }))
}

/// An HTTP/1.1 connection to the backend (upgrades allowed).
pub async fn connect<B>(
    backend: &Backend,
) -> Result<hyper::client::conn::http1::SendRequest<B>, BackendError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let addr = backend.authority();
    let name = ServerName::try_from(backend.server_name.clone())
        .map_err(|_| BackendError::Config(format!("invalid name {:?}", backend.server_name)))?;
    let connecting = async {
        let tcp = dial(&backend.host, backend.port).await?;
        let _ = tcp.set_nodelay(true);
        tokio_rustls::TlsConnector::from(backend.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| BackendError::Tls(e.to_string()))
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| BackendError::Timeout(addr.clone()))??;
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| BackendError::Http(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(backend = %addr, error = %e, "aggregated API connection ended");
        }
    });
    Ok(sender)
}

/// Go's `url.PathEscape` of an extra's key, as header names carry it.
fn path_escape(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'=')
        .remove(b':')
        .remove(b'@');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string()
}

/// Replaces any identity headers with the user's: `X-Remote-User`, one `X-Remote-Group` per
/// group, `X-Remote-Extra-<key>` per extra value.
pub fn set_identity(headers: &mut HeaderMap, user: &User) {
    let stale: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let k = k.as_str();
            k == REMOTE_USER || k == REMOTE_GROUP || k.starts_with(REMOTE_EXTRA)
        })
        .cloned()
        .collect();
    for k in stale {
        headers.remove(k);
    }
    if let Ok(v) = HeaderValue::from_str(&user.name) {
        headers.insert(REMOTE_USER, v);
    }
    for g in &user.groups {
        if let Ok(v) = HeaderValue::from_str(g) {
            headers.append(REMOTE_GROUP, v);
        }
    }
    for (key, values) in &user.extra {
        let Ok(name) =
            HeaderName::from_bytes(format!("{REMOTE_EXTRA}{}", path_escape(key)).as_bytes())
        else {
            continue;
        };
        for value in values {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.append(name.clone(), v);
            }
        }
    }
}

/// The aggregator's own identity for its checks (`system:kube-aggregator`, `system:masters`).
pub fn aggregator_user() -> User {
    User {
        name: "system:kube-aggregator".into(),
        uid: String::new(),
        groups: vec!["system:masters".into()],
        extra: Default::default(),
    }
}

/// Largest body read by [`get`].
const MAX_READ: usize = 16 * 1024 * 1024;

/// A GET of `path` as the aggregator: status, headers and body.
pub async fn get(
    backend: &Backend,
    path: &str,
    accept: &str,
) -> Result<(http::StatusCode, HeaderMap, Bytes), BackendError> {
    let mut sender = connect::<http_body_util::Empty<Bytes>>(backend).await?;
    let mut req = http::Request::get(path)
        .header(http::header::HOST, backend.authority())
        .header(http::header::ACCEPT, accept)
        .body(http_body_util::Empty::new())
        .map_err(|e| BackendError::Http(e.to_string()))?;
    set_identity(req.headers_mut(), &aggregator_user());
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| BackendError::Http(e.to_string()))?;
    let (parts, body) = resp.into_parts();
    let bytes = http_body_util::Limited::new(body, MAX_READ)
        .collect()
        .await
        .map_err(|e| BackendError::Http(e.to_string()))?
        .to_bytes();
    Ok((parts.status, parts.headers, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_replace_what_the_client_sent() {
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", HeaderValue::from_static("mallory"));
        h.insert("x-remote-extra-scopes", HeaderValue::from_static("all"));
        let mut user = User {
            name: "alice".into(),
            uid: String::new(),
            groups: vec!["devs".into(), "system:authenticated".into()],
            extra: Default::default(),
        };
        user.extra
            .insert("example.com/team a".into(), vec!["x".into(), "y".into()]);
        set_identity(&mut h, &user);
        assert_eq!(h.get_all(REMOTE_USER).iter().count(), 1);
        assert_eq!(h.get(REMOTE_USER), Some(&HeaderValue::from_static("alice")));
        let groups: Vec<&str> = h
            .get_all(REMOTE_GROUP)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(groups, ["devs", "system:authenticated"]);
        assert!(h.get("x-remote-extra-scopes").is_none());
        let extra: Vec<&str> = h
            .get_all("x-remote-extra-example.com%2fteam%20a")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(extra, ["x", "y"]);
    }
}
