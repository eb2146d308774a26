//! The operations endpoint every program serves: `/metrics` (Prometheus text), `/healthz`,
//! `/livez` and `/readyz`, over plain HTTP on its own port.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Errors of the operations endpoint.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The server task ended abnormally.
    #[error("operations server task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

type Check = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Readiness as `/readyz` reports it: a flag the program flips, or a closure asked on each probe.
#[derive(Clone)]
pub struct Readiness {
    inner: ReadinessInner,
}

#[derive(Clone)]
enum ReadinessInner {
    Flag(Arc<RwLock<Result<(), String>>>),
    Check(Check),
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("status", &self.check())
            .finish()
    }
}

impl Readiness {
    /// A flag that starts not ready with `reason` (programs flip it once their caches sync).
    pub fn not_ready(reason: impl Into<String>) -> Self {
        Readiness {
            inner: ReadinessInner::Flag(Arc::new(RwLock::new(Err(reason.into())))),
        }
    }

    /// A flag that starts ready.
    pub fn ready() -> Self {
        Readiness {
            inner: ReadinessInner::Flag(Arc::new(RwLock::new(Ok(())))),
        }
    }

    /// Readiness computed by `check` on every probe (`Err(reason)` when not ready).
    pub fn from_fn(check: impl Fn() -> Result<(), String> + Send + Sync + 'static) -> Self {
        Readiness {
            inner: ReadinessInner::Check(Arc::new(check)),
        }
    }

    /// Marks the program ready. No effect on a closure-based readiness.
    pub fn set_ready(&self) {
        self.set(Ok(()));
    }

    /// Marks the program not ready, with the reason `/readyz` shows. No effect on a closure.
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        self.set(Err(reason.into()));
    }

    fn set(&self, value: Result<(), String>) {
        if let ReadinessInner::Flag(flag) = &self.inner {
            // A poisoned lock only means a writer panicked; the value is still a plain Result.
            let mut guard = flag.write().unwrap_or_else(|e| e.into_inner());
            *guard = value;
        }
    }

    /// The current readiness: `Err(reason)` when not ready.
    pub fn check(&self) -> Result<(), String> {
        match &self.inner {
            ReadinessInner::Flag(flag) => flag.read().unwrap_or_else(|e| e.into_inner()).clone(),
            ReadinessInner::Check(check) => check(),
        }
    }
}

/// A running operations server.
#[derive(Debug)]
pub struct OpsHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl OpsHandle {
    /// The address the server listens on (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server to end.
    pub async fn shutdown(self) -> Result<(), OpsError> {
        let _ = self.shutdown.send(true);
        self.task.await?;
        Ok(())
    }
}

/// Serves `/metrics`, `/healthz`, `/livez` and `/readyz` on `addr` until the handle shuts it down.
pub async fn serve_ops(
    addr: SocketAddr,
    registry: Registry,
    readiness: Readiness,
) -> Result<OpsHandle, OpsError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| OpsError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| OpsError::Bind { addr, source })?;
    let (tx, rx) = watch::channel(false);
    let state = Arc::new(OpsState {
        registry,
        readiness,
    });
    let task = tokio::spawn(accept_loop(listener, state, wait_true(rx)));
    tracing::info!(addr = %local, "operations endpoint listening (/metrics, /healthz, /livez, /readyz)");
    Ok(OpsHandle {
        addr: local,
        shutdown: tx,
        task,
    })
}

async fn wait_true(mut rx: watch::Receiver<bool>) {
    // An error means the handle was dropped: keep serving for the life of the process.
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

struct OpsState {
    registry: Registry,
    readiness: Readiness,
}

async fn accept_loop(listener: TcpListener, state: Arc<OpsState>, stop: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            (stream, _) = crate::listen::accept(&listener, "operations endpoint") => {
                let state = state.clone();
                let svc = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(&state, &req)) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(err) = conn.await {
                        tracing::debug!(error = %err, "operations endpoint: connection error");
                    }
                });
            }
            () = &mut stop => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

fn handle(state: &OpsState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        );
    }
    match req.uri().path() {
        "/metrics" => metrics(&state.registry),
        "/healthz" | "/livez" => text(StatusCode::OK, "ok"),
        "/readyz" => match state.readiness.check() {
            Ok(()) => text(StatusCode::OK, "ok"),
            Err(reason) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("not ready: {reason}\n"),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: this endpoint serves /metrics, /healthz, /livez and /readyz\n",
        ),
    }
}

fn metrics(registry: &Registry) -> Response<Full<Bytes>> {
    let encoder = TextEncoder::new();
    let mut buf = Vec::new();
    if let Err(err) = encoder.encode(&registry.gather(), &mut buf) {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode metrics: {err}\n"),
        );
    }
    let mut resp = Response::new(Full::new(Bytes::from(buf)));
    if let Ok(v) = header::HeaderValue::from_str(encoder.format_type()) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_flag_flips_and_keeps_reason() {
        let r = Readiness::not_ready("caches not synced");
        assert_eq!(r.check(), Err("caches not synced".to_string()));
        let clone = r.clone();
        clone.set_ready();
        assert_eq!(r.check(), Ok(()));
        r.set_not_ready("lost leadership");
        assert_eq!(clone.check(), Err("lost leadership".to_string()));
    }

    #[test]
    fn readiness_closure_is_asked_each_time() {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = flag.clone();
        let r = Readiness::from_fn(move || {
            if f.load(std::sync::atomic::Ordering::SeqCst) {
                Ok(())
            } else {
                Err("waiting".into())
            }
        });
        assert!(r.check().is_err());
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(r.check().is_ok());
    }
}
