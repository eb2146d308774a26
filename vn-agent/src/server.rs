//! The TLS listener and the request handler: authenticate the connection, route, authorize,
//! forward, account (metrics and one access-log line per request).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use prometheus::IntGauge;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use common::kubelet_proxy::{BoxError, KubeletProxy, ProxyBody, Upstream};
use crds::tenancy::super_namespace;

use crate::authn::{CaCache, Tenant};
use crate::metrics::{Metrics, UNAUTHENTICATED};
use crate::pods::tenant_pod_list;
use crate::refusal::Refusal;
use crate::routes::{self, PodRequest, Route};
use crate::super_cluster::{SuperCluster, SuperError};

/// Where requests for pods go.
#[derive(Clone, Debug)]
pub enum KubeletTarget {
    /// Always this kubelet (the node's own, `https://127.0.0.1:10250` by default).
    Fixed(Upstream),
    /// The kubelet of the super node running the pod (local mode).
    PodNode,
}

/// What the handler needs.
pub struct State {
    /// Tenant CAs.
    pub cas: CaCache,
    /// Super cluster lookups.
    pub super_cluster: Arc<dyn SuperCluster>,
    /// The forwarding client (with vn-agent's kubelet client certificate).
    pub proxy: KubeletProxy,
    /// Where to forward.
    pub target: KubeletTarget,
    /// The node this agent runs on, scoping `/pods`.
    pub node_name: Option<String>,
    /// Metrics.
    pub metrics: Metrics,
}

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open connections (log streams may never end by themselves).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts TLS connections until `stop` resolves, then drains them.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<State>,
    stop: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut conns = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            (tcp, peer) = common::listen::accept(&listener, "vn-agent") => {
                    let _ = tcp.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    let state = state.clone();
                    let watcher = graceful.watcher();
                    conns.spawn(async move {
                        connection(tcp, peer, acceptor, state, watcher).await;
                    });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            () = &mut stop => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("closing connections still open after the drain timeout");
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn connection(
    tcp: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    acceptor: TlsAcceptor,
    state: Arc<State>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "TLS handshake refused");
            count_handshake_failure(&state.metrics);
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "TLS handshake timed out");
            count_handshake_failure(&state.metrics);
            return;
        }
    };
    let chain = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect::<Vec<_>>())
        .unwrap_or_default();
    let auth = state.cas.authenticate(&chain).await;
    if let Err(r) = &auth {
        tracing::warn!(%peer, reason = r.kind, message = %r.message, "client not authenticated");
    }
    let svc = service_fn(move |req| {
        let state = state.clone();
        let auth = auth.clone();
        async move { Ok::<_, Infallible>(handle(&state, auth, req).await) }
    });
    let builder = {
        let mut b = auto::Builder::new(TokioExecutor::new());
        b.http1().timer(hyper_util::rt::TokioTimer::new());
        b.http1_only()
    };
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

fn count_handshake_failure(m: &Metrics) {
    m.failures
        .with_label_values(&[UNAUTHENTICATED, "handshake", "tls"])
        .inc();
}

/// What one request was about, for the access log.
#[derive(Default)]
struct Subject {
    namespace: Option<String>,
    pod: Option<String>,
    container: Option<String>,
    kubelet: Option<String>,
}

async fn handle(
    state: &State,
    auth: Result<Tenant, Refusal>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let tenant = match &auth {
        Ok(t) => t.cluster_key.clone(),
        Err(_) => UNAUTHENTICATED.to_string(),
    };
    let route = routes::parse(&method, &path);
    let action = route.as_ref().map(Route::action).unwrap_or("refused");
    let in_flight = state.metrics.in_flight.with_label_values(&[&tenant]);
    in_flight.inc();
    let mut subject = Subject::default();
    let outcome = match (auth, route) {
        (Err(r), _) => Err(r),
        (Ok(_), Err(r)) => Err(r),
        (Ok(t), Ok(route)) => dispatch(state, &t, route, req, &mut subject).await,
    };
    let (resp, reason) = match outcome {
        Ok(resp) => {
            let reason = (resp.status().as_u16() >= 400).then_some("kubelet_error");
            (resp, reason)
        }
        Err(refusal) => {
            let kind = refusal.kind;
            (refusal.into_response(), Some(kind))
        }
    };
    let code = resp.status();
    let elapsed = started.elapsed();
    let m = &state.metrics;
    m.requests
        .with_label_values(&[&tenant, action, code.as_str()])
        .inc();
    m.latency
        .with_label_values(&[&tenant, action])
        .observe(elapsed.as_secs_f64());
    if let Some(reason) = reason {
        m.failures
            .with_label_values(&[&tenant, action, reason])
            .inc();
    }
    tracing::info!(
        tenant = %tenant,
        action,
        %method,
        path = %path,
        namespace = subject.namespace.as_deref().unwrap_or(""),
        pod = subject.pod.as_deref().unwrap_or(""),
        container = subject.container.as_deref().unwrap_or(""),
        kubelet = subject.kubelet.as_deref().unwrap_or(""),
        code = code.as_u16(),
        result = reason.unwrap_or("ok"),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    track(resp, in_flight)
}

async fn dispatch(
    state: &State,
    tenant: &Tenant,
    route: Route,
    req: Request<Incoming>,
    subject: &mut Subject,
) -> Result<Response<ProxyBody>, Refusal> {
    match route {
        Route::Healthz => Ok(text(StatusCode::OK, "ok")),
        Route::Pods => {
            let pods = state
                .super_cluster
                .pods(state.node_name.as_deref())
                .await
                .map_err(unavailable)?;
            let list = tenant_pod_list(&tenant.cluster_key, &pods);
            let mut resp = text(StatusCode::OK, &list.to_string());
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(resp)
        }
        Route::Pod(p) => {
            subject.namespace = Some(p.namespace.clone());
            subject.pod = Some(p.pod.clone());
            subject.container = p.container.clone();
            forward(state, tenant, &p, req, subject).await
        }
    }
}

async fn forward(
    state: &State,
    tenant: &Tenant,
    p: &PodRequest,
    req: Request<Incoming>,
    subject: &mut Subject,
) -> Result<Response<ProxyBody>, Refusal> {
    let super_ns = super_namespace(&tenant.cluster_key, &p.namespace)
        .map_err(|e| Refusal::bad_request("bad_name", e.to_string()))?;
    let pod = state
        .super_cluster
        .pod(&super_ns, &p.pod)
        .await
        .map_err(unavailable)?;
    let target = routes::authorize(&tenant.cluster_key, p, &super_ns, pod.as_ref())?;
    let upstream = match &state.target {
        KubeletTarget::Fixed(u) => u.clone(),
        KubeletTarget::PodNode => pod_node_kubelet(state, target.node_name.as_deref(), p).await?,
    };
    subject.kubelet = Some(upstream.authority());
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{}?{q}", target.path),
        None => target.path,
    };
    state
        .proxy
        .forward(&upstream, &path_and_query, req)
        .await
        .map_err(|e| {
            Refusal::new(
                e.status(),
                "kubelet_unreachable",
                format!("cannot reach the kubelet: {e}"),
            )
        })
}

async fn pod_node_kubelet(
    state: &State,
    node_name: Option<&str>,
    p: &PodRequest,
) -> Result<Upstream, Refusal> {
    let node_name = node_name.ok_or_else(|| {
        Refusal::bad_request(
            "pod_unscheduled",
            format!(
                "pod {:?} in namespace {:?} is not scheduled to a node yet",
                p.pod, p.namespace
            ),
        )
    })?;
    let node = state
        .super_cluster
        .node(node_name)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "node_unreachable",
                format!("the node running pod {:?} is gone", p.pod),
            )
        })?;
    routes::kubelet_of(&node)
}

fn unavailable(e: SuperError) -> Refusal {
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "lookup_failed",
        format!("cannot read the super cluster: {e}"),
    )
}

fn text(status: StatusCode, body: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Keeps the in-flight gauge raised until the response body has been sent or dropped.
fn track(resp: Response<ProxyBody>, gauge: IntGauge) -> Response<ProxyBody> {
    resp.map(|inner| {
        TrackedBody {
            inner,
            _guard: InFlight(gauge),
        }
        .boxed()
    })
}

struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

struct TrackedBody {
    inner: ProxyBody,
    _guard: InFlight,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
