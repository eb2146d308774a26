//! The kubelet HTTPS API for all simulated nodes on one listener: container logs, exec,
//! attach, port-forward, run, `/pods`, `/healthz`, `/metrics`, with mTLS.

pub mod query;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::nodes::NodeSetup;
use crate::provider::{LogOptions, PodProvider, ProviderError};
use crate::spdy::Connection;
use crate::stream::protocol::{self, flavor};
use crate::stream::{ExecIo, ExecOutcome, ExecSession, PortForwarder, StreamOptions};
use crate::stream::{exec_spdy, exec_ws, portforward};

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// What the handlers need.
pub struct KubeletCtx {
    /// The provider running the pods.
    pub provider: Arc<dyn PodProvider>,
    /// Our nodes.
    pub nodes: Arc<Mutex<Vec<NodeSetup>>>,
    /// Metrics.
    pub metrics: Metrics,
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())).boxed_unsync());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn provider_error(e: &ProviderError) -> Response<Body> {
    let status = match e {
        ProviderError::PodNotFound(_) | ProviderError::ContainerNotFound(_) => {
            StatusCode::NOT_FOUND
        }
        ProviderError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ProviderError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    text(status, e.to_string())
}

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
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "kubelet accept failed");
                    continue;
                }
            },
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
    let path = req.uri().path().to_string();
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(query::decode)
        .collect();
    let endpoint = segs.first().cloned().unwrap_or_default();
    let resp = match (endpoint.as_str(), &segs[1..]) {
        ("healthz", []) => text(StatusCode::OK, "ok"),
        ("metrics", []) => text(StatusCode::OK, ctx.metrics.render()),
        ("pods", [] | [_]) if req.method() == Method::GET => pods(&ctx, local).await,
        ("containerLogs", [ns, pod, container]) if req.method() == Method::GET => {
            logs(&ctx, ns, pod, container, req.uri().query()).await
        }
        ("exec" | "attach", [ns, pod, container]) => {
            remote_command(&ctx, &endpoint, ns, pod, None, container, req).await
        }
        ("exec" | "attach", [ns, pod, uid, container]) => {
            remote_command(&ctx, &endpoint, ns, pod, Some(uid.as_str()), container, req).await
        }
        ("portForward", [ns, pod]) => port_forward(&ctx, ns, pod, None, req).await,
        ("portForward", [ns, pod, uid]) => {
            port_forward(&ctx, ns, pod, Some(uid.as_str()), req).await
        }
        ("run", [ns, pod, container]) if req.method() == Method::POST => {
            run(&ctx, ns, pod, None, container, req).await
        }
        ("run", [ns, pod, uid, container]) if req.method() == Method::POST => {
            run(&ctx, ns, pod, Some(uid.as_str()), container, req).await
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
    };
    ctx.metrics
        .kubelet_requests
        .with_label_values(&[endpoint.as_str(), resp.status().as_str()])
        .inc();
    resp
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

/// Looks up the pod and container as the kubelet does before streaming.
async fn locate(
    ctx: &KubeletCtx,
    ns: &str,
    pod: &str,
    uid: Option<&str>,
    container: Option<&str>,
) -> Result<k8s_openapi::api::core::v1::Pod, Response<Body>> {
    let p = match ctx.provider.get_pod(ns, pod).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Err(text(
                StatusCode::NOT_FOUND,
                format!("pod {pod:?} does not exist\n"),
            ));
        }
        Err(e) => return Err(provider_error(&e)),
    };
    if let Some(uid) = uid
        && p.metadata.uid.as_deref() != Some(uid)
    {
        return Err(text(
            StatusCode::NOT_FOUND,
            format!("pod {pod:?} with uid {uid:?} does not exist\n"),
        ));
    }
    if let Some(c) = container {
        let exists = p
            .spec
            .as_ref()
            .is_some_and(|s| s.containers.iter().any(|x| x.name == c));
        if !exists {
            return Err(text(
                StatusCode::NOT_FOUND,
                format!("container not found ({c:?})"),
            ));
        }
    }
    Ok(p)
}

fn parse_log_options(q: &[(String, String)]) -> Result<LogOptions, String> {
    let int = |key: &str| -> Result<Option<i64>, String> {
        query::get(q, key)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("{key}: invalid value {v:?}: expected an integer"))
            })
            .transpose()
    };
    let tail_lines = int("tailLines")?;
    if tail_lines.is_some_and(|t| t < 0) {
        return Err("tailLines: must be greater than or equal to 0".into());
    }
    let limit_bytes = int("limitBytes")?;
    if limit_bytes.is_some_and(|l| l < 1) {
        return Err("limitBytes: must be greater than 0".into());
    }
    let since_seconds = int("sinceSeconds")?;
    if since_seconds.is_some_and(|s| s < 1) {
        return Err("sinceSeconds: must be greater than 0".into());
    }
    let since_time = query::get(q, "sinceTime")
        .map(|t| {
            t.parse::<jiff::Timestamp>()
                .map_err(|_| format!("sinceTime: invalid RFC 3339 time {t:?}"))
        })
        .transpose()?;
    if since_seconds.is_some() && since_time.is_some() {
        return Err("at most one of sinceTime or sinceSeconds may be specified".into());
    }
    let since = match (since_seconds, since_time) {
        (Some(s), _) => Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(s)),
        (_, t) => t,
    };
    Ok(LogOptions {
        follow: query::flag(q, "follow"),
        tail_lines,
        limit_bytes,
        timestamps: query::flag(q, "timestamps"),
        since,
        previous: query::flag(q, "previous"),
    })
}

async fn logs(
    ctx: &KubeletCtx,
    ns: &str,
    pod: &str,
    container: &str,
    raw_query: Option<&str>,
) -> Response<Body> {
    let q = query::parse(raw_query);
    let opts = match parse_log_options(&q) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    let p = match ctx.provider.get_pod(ns, pod).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return text(
                StatusCode::NOT_FOUND,
                format!("pod {pod:?} does not exist\n"),
            );
        }
        Err(e) => return provider_error(&e),
    };
    if !p
        .spec
        .as_ref()
        .is_some_and(|s| s.containers.iter().any(|c| c.name == container))
    {
        return text(
            StatusCode::NOT_FOUND,
            format!("container {container:?} not found in pod {pod:?}\n"),
        );
    }
    match ctx.provider.container_logs(ns, pod, container, opts).await {
        Ok(stream) => {
            let body = StreamBody::new(stream.map(|b| Ok::<_, Infallible>(Frame::data(b))));
            let mut r = Response::new(BodyExt::boxed_unsync(body));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r
        }
        Err(e) => provider_error(&e),
    }
}

enum Upgrade {
    Spdy(Option<String>),
    Ws(Option<String>, String),
}

/// Negotiates the upgrade or returns the kubelet's error response.
fn negotiate(
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

fn switching(up: &Upgrade) -> Response<Body> {
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

#[allow(clippy::too_many_arguments)]
async fn remote_command(
    ctx: &KubeletCtx,
    endpoint: &str,
    ns: &str,
    pod: &str,
    uid: Option<&str>,
    container: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    let q = query::parse(req.uri().query());
    let opts = StreamOptions {
        stdin: query::flag(&q, "stdin") || query::flag(&q, "input"),
        stdout: query::flag(&q, "stdout") || query::flag(&q, "output"),
        stderr: query::flag(&q, "stderr") || query::flag(&q, "error"),
        tty: query::flag(&q, "tty"),
    };
    if !opts.stdin && !opts.stdout && !opts.stderr {
        return text(
            StatusCode::BAD_REQUEST,
            "you must specify at least 1 of stdin, stdout, stderr",
        );
    }
    let command: Vec<String> = query::all(&q, "command")
        .into_iter()
        .map(str::to_string)
        .collect();
    let exec = endpoint == "exec";
    if exec && command.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "you must specify at least one command for the container",
        );
    }
    if let Err(r) = locate(ctx, ns, pod, uid, Some(container)).await {
        return r;
    }
    let up = match negotiate(
        &req,
        protocol::SPDY_REMOTECOMMAND,
        protocol::WS_REMOTECOMMAND,
    ) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let response = switching(&up);
    let provider = ctx.provider.clone();
    let (ns, pod, container) = (ns.to_string(), pod.to_string(), container.to_string());
    let session: ExecSession = Box::new(move |io: ExecIo| {
        async move {
            let result = if exec {
                provider.exec(&ns, &pod, &container, command, io).await
            } else {
                provider.attach(&ns, &pod, &container, io).await
            };
            result.unwrap_or_else(|e| ExecOutcome::Error(e.to_string()))
        }
        .boxed()
    });
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        match up {
            Upgrade::Spdy(p) => {
                let f = flavor(p.as_deref().unwrap_or(""));
                exec_spdy::serve(Connection::serve(upgraded), f, opts, session).await;
            }
            Upgrade::Ws(p, _) => {
                let f = flavor(p.as_deref().unwrap_or("channel.k8s.io"));
                let ws = WebSocketStream::from_raw_socket(upgraded, Role::Server, None).await;
                exec_ws::serve(ws, f, opts, session).await;
            }
        }
    });
    response
}

async fn port_forward(
    ctx: &KubeletCtx,
    ns: &str,
    pod: &str,
    uid: Option<&str>,
    req: Request<Incoming>,
) -> Response<Body> {
    let p = match locate(ctx, ns, pod, uid, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let q = query::parse(req.uri().query());
    let mut ports = Vec::new();
    for raw in query::all(&q, "ports")
        .into_iter()
        .chain(query::all(&q, "port"))
    {
        for part in raw.split(',').filter(|s| !s.trim().is_empty()) {
            match part.trim().parse::<u16>() {
                Ok(p) if p > 0 => ports.push(p),
                _ => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!("invalid port {part:?}: expected an integer between 1 and 65535"),
                    );
                }
            }
        }
    }
    let up = match negotiate(&req, protocol::SPDY_PORTFORWARD, protocol::WS_PORTFORWARD) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let tunnel = matches!(&up, Upgrade::Ws(Some(p), _) if p.starts_with("SPDY/3.1+"));
    if matches!(up, Upgrade::Ws(..)) && !tunnel && ports.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "query parameter \"port\" is required",
        );
    }
    let response = switching(&up);
    let provider = ctx.provider.clone();
    let uid = p.metadata.uid.clone().unwrap_or_default();
    let (ns, pod) = (ns.to_string(), pod.to_string());
    let forward: PortForwarder = Arc::new(move |port, stream| {
        let provider = provider.clone();
        let (ns, pod, uid) = (ns.clone(), pod.clone(), uid.clone());
        async move {
            provider
                .port_forward(&ns, &pod, port, stream)
                .await
                .map_err(|e| format!("error forwarding port {port} to pod {pod}, uid {uid}: {e}"))
        }
        .boxed()
    });
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        match up {
            Upgrade::Spdy(_) => portforward::serve_spdy(Connection::serve(upgraded), forward).await,
            Upgrade::Ws(p, _) => {
                let ws = WebSocketStream::from_raw_socket(upgraded, Role::Server, None).await;
                if tunnel {
                    portforward::serve_ws_tunnel(ws, forward).await;
                } else {
                    let f = flavor(p.as_deref().unwrap_or("v4.channel.k8s.io"));
                    portforward::serve_ws(ws, f, ports, forward).await;
                }
            }
        }
    });
    response
}

async fn run(
    ctx: &KubeletCtx,
    ns: &str,
    pod: &str,
    uid: Option<&str>,
    container: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    let mut q = query::parse(req.uri().query());
    if let Ok(body) = req.into_body().collect().await {
        let form = String::from_utf8_lossy(&body.to_bytes()).to_string();
        q.extend(query::parse(Some(&form)));
    }
    let cmd: Vec<String> = query::get(&q, "cmd")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if cmd.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "you must specify a command with the cmd parameter",
        );
    }
    if let Err(r) = locate(ctx, ns, pod, uid, Some(container)).await {
        return r;
    }
    let (out_w, mut out_r) = tokio::io::duplex(1 << 20);
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut out_r, &mut buf).await;
        buf
    });
    let (err_w, mut err_r) = tokio::io::duplex(1 << 20);
    let err_reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut err_r, &mut buf).await;
        buf
    });
    let io = ExecIo {
        stdin: None,
        stdout: Some(Box::new(out_w)),
        stderr: Some(Box::new(err_w)),
        tty: false,
        resize: None,
    };
    let outcome = ctx.provider.exec(ns, pod, container, cmd.clone(), io).await;
    let mut output = reader.await.unwrap_or_default();
    output.extend(err_reader.await.unwrap_or_default());
    match outcome {
        Ok(ExecOutcome::Exited(0)) => {
            let mut r = Response::new(Full::new(Bytes::from(output)).boxed_unsync());
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r
        }
        Ok(ExecOutcome::Exited(code)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "command {:?} exited with {code}: {}",
                cmd.join(" "),
                String::from_utf8_lossy(&output)
            ),
        ),
        Ok(ExecOutcome::Error(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => provider_error(&e),
    }
}
