//! The kubelet HTTPS API for all simulated nodes on one listener: container logs, exec,
//! attach, port-forward, run, `/pods`, `/healthz`, `/metrics`, with mTLS. Paths are parsed by
//! `common::kubelet_path`; each endpoint family has its own file.

mod ctx;
mod logs;
pub mod query;
mod response;
mod run;
mod streaming;
pub mod tls;
mod upgrade;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::kubelet_path::{self, KubeletPath, PodAction, PodPath};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::nodes::NodeSetup;

pub use ctx::KubeletCtx;
use response::{Body, not_found, text};

/// Serves the kubelet API on `listener` until `cancel` fires.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    ctx: Arc<KubeletCtx>,
    cancel: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, _) = tokio::select! {
            _ = cancel.cancelled() => return,
            conn = common::listen::accept(&listener, "kubelet") => conn,
        };
        let local = tcp.local_addr().ok();
        let acceptor = acceptor.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "kubelet TLS handshake failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(route(ctx, local, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "kubelet connection ended");
            }
        });
    }
}

async fn route(
    ctx: Arc<KubeletCtx>,
    local: Option<SocketAddr>,
    req: Request<Incoming>,
) -> Response<Body> {
    let parsed = kubelet_path::parse(req.uri().path());
    let endpoint = match &parsed {
        Ok(p) => p.endpoint().to_string(),
        Err(_) => String::new(),
    };
    let get = req.method() == Method::GET;
    let resp = match parsed {
        Ok(KubeletPath::Healthz) => text(StatusCode::OK, "ok"),
        Ok(KubeletPath::Other {
            endpoint,
            rest: None,
        }) if endpoint == "metrics" => text(StatusCode::OK, ctx.metrics.render()),
        Ok(KubeletPath::Pods) if get => pods(&ctx, local).await,
        Ok(KubeletPath::Pod(p)) => pod_action(&ctx, decoded(p), req).await,
        _ => not_found(),
    };
    ctx.metrics
        .kubelet_requests
        .with_label_values(&[endpoint.as_str(), resp.status().as_str()])
        .inc();
    resp
}

async fn pod_action(ctx: &KubeletCtx, p: PodPath, req: Request<Incoming>) -> Response<Body> {
    let (ns, pod, uid) = (p.namespace.as_str(), p.pod.as_str(), p.uid.as_deref());
    let container = p.container.as_deref().unwrap_or_default();
    match p.action {
        PodAction::Logs if req.method() == Method::GET => {
            logs::logs(ctx, ns, pod, container, req.uri().query()).await
        }
        PodAction::Exec | PodAction::Attach => {
            let exec = p.action == PodAction::Exec;
            streaming::remote_command(ctx, exec, ns, pod, uid, container, req).await
        }
        PodAction::PortForward => streaming::port_forward(ctx, ns, pod, uid, req).await,
        PodAction::Run if req.method() == Method::POST => {
            run::run(ctx, ns, pod, uid, container, req).await
        }
        _ => not_found(),
    }
}

/// The path's names percent-decoded, as the kubelet's router hands them over.
fn decoded(p: PodPath) -> PodPath {
    PodPath {
        namespace: query::decode(&p.namespace),
        pod: query::decode(&p.pod),
        uid: p.uid.as_deref().map(query::decode),
        container: p.container.as_deref().map(query::decode),
        ..p
    }
}

async fn pods(ctx: &KubeletCtx, local: Option<SocketAddr>) -> Response<Body> {
    let names: Vec<String> = ctx
        .nodes
        .lock()
        .map(|nodes| {
            let same_ip: Vec<&NodeSetup> = nodes
                .iter()
                .filter(|n| Some(n.address) == local.map(|l| l.ip()))
                .collect();
            // A node is identified by its address only when it has one of its own.
            if same_ip.len() == 1 {
                vec![same_ip[0].name.clone()]
            } else {
                nodes.iter().map(|n| n.name.clone()).collect()
            }
        })
        .unwrap_or_default();
    let mut items = Vec::new();
    for n in names {
        items.extend(ctx.provider.get_pods(&n).await.unwrap_or_default());
    }
    let list =
        serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items});
    let mut r = Response::new(Full::new(Bytes::from(list.to_string())).boxed_unsync());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
