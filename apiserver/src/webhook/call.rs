//! Calling one webhook: where it is (a URL, or a service resolved through its endpoints),
//! the HTTPS POST of an `AdmissionReview` trusting the webhook's `caBundle`, the timeout, and
//! the review it answers.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::api::Api;

/// Largest webhook answer read.
const MAX_RESPONSE: usize = 3 * 1024 * 1024;

/// Where a webhook is reached: the URL it is known by, the address dialled and the TLS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// URL shown in errors and used for the request line (`https://svc.ns.svc:443/path`).
    pub url: String,
    /// Host dialled.
    pub host: String,
    /// Port dialled.
    pub port: u16,
    /// Name the server certificate must carry.
    pub server_name: String,
    /// Path and query sent.
    pub path_and_query: String,
}

fn with_timeout(path: &str, timeout: u64) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}timeout={timeout}s")
}

/// Resolves `clientConfig` to a target; `Err` carries the reason (as upstream words it).
pub fn resolve(api: &Api, client_config: &Value, timeout: u64) -> Result<Target, String> {
    if let Some(url) = client_config.get("url").and_then(Value::as_str) {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri.port_u16().unwrap_or(443);
        let path = with_timeout(uri.path_and_query().map_or("/", |p| p.as_str()), timeout);
        return Ok(Target {
            url: format!("https://{}:{port}{path}", uri.host().unwrap_or_default()),
            server_name: host.clone(),
            host,
            port,
            path_and_query: path,
        });
    }
    let svc = client_config.get("service").unwrap_or(&Value::Null);
    let s = |k: &str| {
        svc.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (ns, name) = (s("namespace"), s("name"));
    let port = svc
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(443);
    let path = with_timeout(
        svc.get("path").and_then(Value::as_str).unwrap_or("/"),
        timeout,
    );
    let server_name = format!("{name}.{ns}.svc");
    let url = format!("https://{server_name}:{port}{path}");
    let (host, dial_port) = crate::resolve::service_address(api, &ns, &name, port)?;
    Ok(Target {
        url,
        host,
        port: dial_port,
        server_name,
        path_and_query: path,
    })
}

fn tls_config(client_config: &Value) -> Result<rustls::ClientConfig, String> {
    let roots = match client_config.get("caBundle").and_then(Value::as_str) {
        Some(b64) if !b64.is_empty() => {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("invalid caBundle: {e}"))?;
            let certs = common::tls::certs_from_pem(&pem).map_err(|e| e.to_string())?;
            common::tls::root_store(&certs).map_err(|e| e.to_string())?
        }
        _ => rustls::RootCertStore::empty(),
    };
    common::tls::client_config(
        common::tls::ServerVerification::Roots(roots),
        None,
        &[b"http/1.1"],
    )
    .map_err(|e| e.to_string())
}

/// POSTs `review` to the webhook and returns the review it answers with.
pub async fn post(
    target: &Target,
    client_config: &Value,
    review: &Value,
    timeout: Duration,
) -> Result<Value, String> {
    let call = async {
        let tls = tls_config(client_config)?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
        let name = ServerName::try_from(target.server_name.clone())
            .map_err(|_| format!("invalid server name {:?}", target.server_name))?;
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| {
                format!(
                    "dial tcp {}:{}: {}",
                    target.host,
                    target.port,
                    crate::resolve::go_dial_error(&e)
                )
            })?;
        let stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let body = serde_json::to_vec(review).map_err(|e| e.to_string())?;
        let req = http::Request::post(&target.path_and_query)
            .header("host", format!("{}:{}", target.server_name, target.port))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "the server responded with the status code {status}"
            ));
        }
        serde_json::from_slice::<Value>(&bytes).map_err(|e| format!("decoding response: {e}"))
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(r) => r,
        Err(_) => Err("context deadline exceeded".into()),
    }
}
