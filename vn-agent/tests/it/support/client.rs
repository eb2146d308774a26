//! The TLS client playing the tenant API server's kubelet client, and reading its answers.

use super::{Body, full};
use std::net::SocketAddr;
use std::sync::Arc;

use common::tls::{self, ServerVerification};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A TLS client playing the tenant API server's kubelet client.
pub struct Client {
    addr: SocketAddr,
    connector: TlsConnector,
}

impl Client {
    pub fn new(addr: SocketAddr, cert_key: Option<&(String, String)>) -> Self {
        let cert = cert_key.map(|(c, k)| {
            (
                tls::certs_from_pem(c.as_bytes()).unwrap(),
                tls::private_key_from_pem(k.as_bytes()).unwrap(),
            )
        });
        let config =
            tls::client_config(ServerVerification::Insecure, cert, &[b"http/1.1"]).unwrap();
        Client {
            addr,
            connector: TlsConnector::from(Arc::new(config)),
        }
    }

    /// Sends one request on a fresh connection; the connection task runs with upgrades.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Incoming>, String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        sender.send_request(req).await.map_err(|e| e.to_string())
    }

    pub async fn get(&self, path: &str) -> Result<Response<Incoming>, String> {
        self.send(Request::get(path).body(full("")).unwrap()).await
    }
}

/// Status code and parsed `Status` JSON of a refusal.
pub async fn status_of(resp: Response<Incoming>) -> (StatusCode, serde_json::Value) {
    let code = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
    (code, v)
}

pub async fn text(resp: Response<Incoming>) -> String {
    String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

/// Upgrades with `proto`, then checks that bytes go through to the kubelet and back.
pub async fn upgrade_roundtrip(client: &Client, method: http::Method, path: &str, proto: &str) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("connection", "Upgrade")
        .header("upgrade", proto)
        .header("x-stream-protocol-version", "v4.channel.k8s.io")
        .body(full(""))
        .unwrap();
    let mut resp = client.send(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS, "{path}");
    assert_eq!(resp.headers()["upgrade"], proto);
    let upgraded = hyper::upgrade::on(&mut resp).await.unwrap();
    let mut io = TokioIo::new(upgraded);
    io.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 12];
    tokio::time::timeout(std::time::Duration::from_secs(5), io.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"kubelet:ping");
}
