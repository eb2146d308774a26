//! The upgraded endpoints: exec and attach (`/exec|attach/{ns}/{pod}[/{uid}]/{container}`) and
//! port forwarding (`/portForward/{ns}/{pod}[/{uid}]`) over SPDY/3.1 or WebSocket.

use std::sync::Arc;

use futures::FutureExt;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::ctx::{KubeletCtx, locate};
use super::query;
use super::response::{Body, text};
use super::upgrade::{Upgrade, negotiate, switching};
use crate::spdy::Connection;
use crate::stream::protocol::{self, flavor};
use crate::stream::{ExecIo, ExecOutcome, ExecSession, PortForwarder, StreamOptions};
use crate::stream::{exec_spdy, exec_ws, portforward};

/// Exec (`exec`) or attach (otherwise) in a container.
pub(super) async fn remote_command(
    ctx: &KubeletCtx,
    exec: bool,
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

pub(super) async fn port_forward(
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
