//! Test PKI and a tiny HTTP/1 client.

use std::net::SocketAddr;

use bytes::Bytes;
use common::pki::{Ca, LeafSpec, Validity};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A test CA that issues leaf certificates.
pub struct Pki {
    pub ca_pem: String,
    ca: Ca,
}

impl Pki {
    pub fn new(cn: &str) -> Self {
        let ca = Ca::generate(cn, Validity::Unlimited).unwrap();
        Pki {
            ca_pem: ca.cert_pem().to_string(),
            ca,
        }
    }

    /// A leaf certificate for serving and client use (PEM cert, PEM key) with `cn` and DNS/IP
    /// SANs.
    pub fn issue(&self, cn: &str, sans: &[&str]) -> (String, String) {
        let mut spec = LeafSpec::server(cn).with_names(sans);
        spec.client_auth = true;
        let leaf = self.ca.issue(&spec).unwrap();
        (leaf.cert_pem, leaf.key_pem)
    }
}

/// One plain-HTTP GET; returns status and body text.
pub async fn http_get(addr: SocketAddr, path: &str) -> (StatusCode, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).to_string())
}
