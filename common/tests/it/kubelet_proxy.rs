//! The kubelet reverse proxy against an in-test TLS "kubelet" that requires a client
//! certificate, echoes requests, streams, and answers upgrades.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::kubelet_proxy::{KubeletProxy, ProxyBody, ProxyError, Upstream};
use common::tls::{self, ClientAuth, ServerVerification};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio_rustls::TlsAcceptor;

use crate::support::Pki;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(s: impl Into<Bytes>) -> Body {
    Full::new(s.into()).boxed()
}

/// The stand-in kubelet: one TLS listener requiring a client certificate from `ca`.
async fn kubelet(pki: &Pki, release: Arc<Notify>) -> SocketAddr {
    let (cert, key) = pki.issue("kubelet", &["127.0.0.1", "localhost"]);
    let roots = tls::root_store(&tls::certs_from_pem(pki.ca_pem.as_bytes()).unwrap()).unwrap();
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
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let release = release.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let peer = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first().cloned())
                    .map(|c| {
                        tls::cert_subject(&c)
                            .unwrap()
                            .common_name
                            .unwrap_or_default()
                    })
                    .unwrap_or_default();
                let svc = service_fn(move |req| {
                    let peer = peer.clone();
                    let release = release.clone();
                    async move { Ok::<_, Infallible>(kubelet_route(req, peer, release)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

fn kubelet_route(mut req: Request<Incoming>, peer: String, release: Arc<Notify>) -> Response<Body> {
    let path = req.uri().path().to_string();
    match path.as_str() {
        "/echo" => {
            let h = |n: &str| {
                req.headers()
                    .get(n)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_else(|| "-".into())
            };
            let text = format!(
                "uri={} peer={} host={} auth={} accept={} method={}",
                req.uri(),
                peer,
                h("host"),
                h("authorization"),
                h("accept"),
                req.method()
            );
            Response::new(full(text))
        }
        "/upload" => Response::new(req.into_body().map_err(|_| unreachable!()).boxed()),
        "/stream" => {
            let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            tokio::spawn(async move {
                tx.send(Ok(Frame::data(Bytes::from("line 1\n"))))
                    .await
                    .unwrap();
                release.notified().await;
                tx.send(Ok(Frame::data(Bytes::from("line 2\n"))))
                    .await
                    .unwrap();
            });
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
            Response::new(BodyExt::boxed(StreamBody::new(stream)))
        }
        "/exec" => {
            let Some(proto) = req.headers().get("upgrade").cloned() else {
                let mut r = Response::new(full("upgrade required"));
                *r.status_mut() = StatusCode::BAD_REQUEST;
                return r;
            };
            let on = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let mut io = TokioIo::new(on.await.unwrap());
                let mut buf = [0u8; 1024];
                loop {
                    let n = io.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    let mut out = b"echo:".to_vec();
                    out.extend_from_slice(&buf[..n]);
                    io.write_all(&out).await.unwrap();
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "Upgrade")
                .header("upgrade", proto)
                .header("x-stream-protocol-version", "v4.channel.k8s.io")
                .body(full(""))
                .unwrap()
        }
        "/refuse" => {
            let mut r = Response::new(full("container not found (\"nope\")"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
        _ => {
            let mut r = Response::new(full("404 page not found"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    }
}

/// A plain-HTTP front that forwards everything through the proxy to `upstream`.
async fn front(proxy: KubeletProxy, upstream: Upstream) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let proxy = proxy.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let proxy = proxy.clone();
                    let upstream = upstream.clone();
                    async move {
                        let pq = req.uri().path_and_query().unwrap().as_str().to_string();
                        let resp: Response<ProxyBody> =
                            match proxy.forward(&upstream, &pq, req).await {
                                Ok(r) => r,
                                Err(e) => {
                                    let mut r = Response::new(
                                        Full::new(Bytes::from(e.to_string()))
                                            .map_err(|n| match n {})
                                            .boxed(),
                                    );
                                    *r.status_mut() = e.status();
                                    r
                                }
                            };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

struct Setup {
    front: SocketAddr,
    release: Arc<Notify>,
}

async fn setup() -> Setup {
    let pki = Pki::new("kubelet-ca");
    let release = Arc::new(Notify::new());
    let kubelet_addr = kubelet(&pki, release.clone()).await;
    let (cert, key) = pki.issue("vn-agent", &[]);
    let client = tls::client_config(
        ServerVerification::Roots(
            tls::root_store(&tls::certs_from_pem(pki.ca_pem.as_bytes()).unwrap()).unwrap(),
        ),
        Some((
            tls::certs_from_pem(cert.as_bytes()).unwrap(),
            tls::private_key_from_pem(key.as_bytes()).unwrap(),
        )),
        &[],
    )
    .unwrap();
    let upstream = Upstream::new("127.0.0.1", kubelet_addr.port());
    Setup {
        front: front(KubeletProxy::new(client), upstream).await,
        release,
    }
}

async fn send(
    addr: SocketAddr,
    req: Request<Body>,
) -> (Response<Incoming>, tokio::task::JoinHandle<()>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    let task = tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    (sender.send_request(req).await.unwrap(), task)
}

async fn text(resp: Response<Incoming>) -> String {
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

#[tokio::test]
async fn forwards_path_query_headers_with_own_certificate() {
    let s = setup().await;
    let req = Request::get("/echo?follow=true&tailLines=10")
        .header("host", "front")
        .header("authorization", "Bearer user-secret")
        .header("accept", "text/plain")
        .body(full(""))
        .unwrap();
    let (resp, _) = send(s.front, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = text(resp).await;
    assert!(
        body.contains("uri=/echo?follow=true&tailLines=10"),
        "{body}"
    );
    assert!(body.contains("peer=vn-agent"), "{body}");
    assert!(body.contains("host=127.0.0.1:"), "{body}");
    assert!(body.contains("auth=-"), "caller credentials leaked: {body}");
    assert!(body.contains("accept=text/plain"), "{body}");
}

#[tokio::test]
async fn streams_responses_without_buffering() {
    let s = setup().await;
    let req = Request::get("/stream?follow=true").body(full("")).unwrap();
    let (resp, _) = send(s.front, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    // The first line arrives while the kubelet is still holding the second one back.
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("first chunk must arrive before the stream ends")
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), Bytes::from("line 1\n"));
    s.release.notify_one();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, Bytes::from("line 2\n"));
}

#[tokio::test]
async fn streams_request_bodies_up() {
    let s = setup().await;
    let chunks: Vec<Result<Frame<Bytes>, Infallible>> = (0..64)
        .map(|i| {
            Ok(Frame::data(Bytes::from(vec![
                b'a' + (i % 26) as u8;
                16 * 1024
            ])))
        })
        .collect();
    let body = StreamBody::new(futures::stream::iter(chunks)).boxed();
    let req = Request::post("/upload").body(body).unwrap();
    let (resp, _) = send(s.front, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let got = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(got.len(), 64 * 16 * 1024);
    assert_eq!(got[16 * 1024], b'b');
}

async fn upgrade_and_echo(front: SocketAddr, proto: &str) {
    let req = Request::post("/exec?command=sh&stdin=true")
        .header("connection", "Upgrade")
        .header("upgrade", proto)
        .header("x-stream-protocol-version", "v4.channel.k8s.io")
        .body(full(""))
        .unwrap();
    let (mut resp, _conn) = send(front, req).await;
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(resp.headers()["upgrade"], proto);
    assert_eq!(
        resp.headers()["x-stream-protocol-version"],
        "v4.channel.k8s.io"
    );
    let upgraded = hyper::upgrade::on(&mut resp).await.unwrap();
    let mut io = TokioIo::new(upgraded);
    for msg in ["hello", "again"] {
        io.write_all(msg.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 5 + msg.len()];
        tokio::time::timeout(Duration::from_secs(5), io.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(String::from_utf8(buf).unwrap(), format!("echo:{msg}"));
    }
}

#[tokio::test]
async fn splices_spdy_and_websocket_upgrades() {
    let s = setup().await;
    upgrade_and_echo(s.front, "SPDY/3.1").await;
    upgrade_and_echo(s.front, "websocket").await;
}

#[tokio::test]
async fn non_101_answers_to_upgrades_pass_through() {
    let s = setup().await;
    let req = Request::post("/refuse")
        .header("connection", "Upgrade")
        .header("upgrade", "SPDY/3.1")
        .body(full(""))
        .unwrap();
    let (resp, _) = send(s.front, req).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(text(resp).await, "container not found (\"nope\")");
}

#[tokio::test]
async fn unreachable_or_unauthenticated_kubelets_are_errors() {
    // Nobody listens: connect error, 502.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let pki = Pki::new("ca");
    let roots = tls::root_store(&tls::certs_from_pem(pki.ca_pem.as_bytes()).unwrap()).unwrap();
    let proxy = KubeletProxy::new(
        tls::client_config(ServerVerification::Roots(roots.clone()), None, &[]).unwrap(),
    );
    let err = proxy
        .forward(
            &Upstream::new("127.0.0.1", port),
            "/pods",
            Request::new(Empty::<Bytes>::new()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProxyError::Connect { .. }), "{err}");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);

    // A kubelet requiring a client certificate refuses a proxy without one.
    let kubelet_addr = kubelet(&pki, Arc::new(Notify::new())).await;
    let res = proxy
        .forward(
            &Upstream::new("127.0.0.1", kubelet_addr.port()),
            "/echo",
            Request::new(Empty::<Bytes>::new()),
        )
        .await;
    assert!(res.is_err(), "kubelet must refuse an anonymous proxy");

    // A bad path never leaves the process.
    let err = proxy
        .forward(
            &Upstream::new("127.0.0.1", kubelet_addr.port()),
            "http://elsewhere/x",
            Request::new(Empty::<Bytes>::new()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn insecure_verification_still_needs_the_client_certificate() {
    let pki = Pki::new("ca");
    let kubelet_addr = kubelet(&pki, Arc::new(Notify::new())).await;
    let (cert, key) = pki.issue("vn-agent", &[]);
    let proxy = KubeletProxy::new(
        tls::client_config(
            ServerVerification::Insecure,
            Some((
                tls::certs_from_pem(cert.as_bytes()).unwrap(),
                tls::private_key_from_pem(key.as_bytes()).unwrap(),
            )),
            &[],
        )
        .unwrap(),
    );
    // The proxy does not trust the kubelet's CA at all; Insecure skips server verification.
    let resp = proxy
        .forward(
            &Upstream::new("localhost", kubelet_addr.port()),
            "/echo",
            Request::new(Empty::<Bytes>::new()),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("peer=vn-agent"));
}
