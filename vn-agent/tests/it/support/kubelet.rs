//! The kubelet stand-in: mTLS with vn-agent's client certificate, every request recorded, canned
//! answers per kubelet endpoint.

use super::{Body, Ca, full};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::tls::{self, ClientAuth};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio_rustls::TlsAcceptor;

/// The kubelet stand-in: requires vn-agent's client certificate, records every request.
pub struct Kubelet {
    pub addr: SocketAddr,
    pub ca: Ca,
    pub requests: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<String>>>,
    pub release: Arc<Notify>,
}

impl Kubelet {
    pub async fn start() -> Self {
        let ca = Ca::new("kubelet-ca");
        let (cert, key) = ca.server();
        let roots = tls::root_store(&tls::certs_from_pem(ca.cert_pem.as_bytes()).unwrap()).unwrap();
        let config = tls::server_config(
            tls::certs_from_pem(cert.as_bytes()).unwrap(),
            tls::private_key_from_pem(key.as_bytes()).unwrap(),
            ClientAuth::Required(roots),
            &[b"http/1.1"],
        )
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let release = Arc::new(Notify::new());
        let (r, s, rel) = (requests.clone(), seen.clone(), release.clone());
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                let (r, s, rel) = (r.clone(), s.clone(), rel.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let peer = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first().cloned())
                        .and_then(|c| tls::cert_subject(&c).ok())
                        .and_then(|s| s.common_name)
                        .unwrap_or_default();
                    let svc = service_fn(move |req: Request<Incoming>| {
                        r.fetch_add(1, Ordering::SeqCst);
                        s.lock()
                            .unwrap()
                            .push(req.uri().path_and_query().unwrap().to_string());
                        let (rel, peer) = (rel.clone(), peer.clone());
                        async move { Ok::<_, Infallible>(kubelet_route(req, rel, peer)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Kubelet {
            addr,
            ca,
            requests,
            seen,
            release,
        }
    }

    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> String {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

fn kubelet_route(mut req: Request<Incoming>, release: Arc<Notify>, peer: String) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    if path.starts_with("/containerLogs/") {
        if query.contains("follow=true") {
            let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            tokio::spawn(async move {
                let _ = tx.send(Ok(Frame::data(Bytes::from("line 1\n")))).await;
                release.notified().await;
                let _ = tx.send(Ok(Frame::data(Bytes::from("line 2\n")))).await;
            });
            return Response::new(BodyExt::boxed(StreamBody::new(
                tokio_stream::wrappers::ReceiverStream::new(rx),
            )));
        }
        return Response::new(full(format!("logs of {path} for {peer}\n")));
    }
    let upgradable = ["/exec/", "/attach/", "/portForward/", "/run/"]
        .iter()
        .any(|p| path.starts_with(p));
    if upgradable && let Some(proto) = req.headers().get("upgrade").cloned() {
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(up) = on.await else { return };
            let mut io = TokioIo::new(up);
            let mut buf = [0u8; 1024];
            loop {
                let n = io.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                let mut out = b"kubelet:".to_vec();
                out.extend_from_slice(&buf[..n]);
                if io.write_all(&out).await.is_err() {
                    break;
                }
            }
        });
        return Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "Upgrade")
            .header("upgrade", proto)
            .header("x-stream-protocol-version", "v4.channel.k8s.io")
            .body(full(""))
            .unwrap();
    }
    let mut r = Response::new(full(format!("kubelet saw {path}")));
    *r.status_mut() = if upgradable {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    r
}
