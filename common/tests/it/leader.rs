//! The election loop against a small in-test Lease endpoint that enforces resourceVersion
//! preconditions like the API server does.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::leader::{LeaderElector, LeaderRecord, LeaderTimings};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::coordination::v1::Lease;
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[derive(Default)]
struct Store {
    lease: Option<Value>,
    rv: u64,
    fail_writes: bool,
    writes: u64,
}

type Shared = Arc<Mutex<Store>>;

const BASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";

fn status(code: StatusCode, reason: &str, msg: &str) -> Response<Full<Bytes>> {
    json_resp(
        code,
        json!({"kind":"Status","apiVersion":"v1","status":"Failure","message":msg,"reason":reason,"code":code.as_u16()}),
    )
}

fn json_resp(code: StatusCode, v: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = code;
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

async fn handle(store: Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut s = store.lock().unwrap();
    match (method, path.as_str()) {
        (Method::GET, p) if p == format!("{BASE}/lead") => match &s.lease {
            Some(l) => json_resp(StatusCode::OK, l.clone()),
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "leases \"lead\" not found",
            ),
        },
        (Method::POST, p) if p == BASE => {
            if s.fail_writes {
                return status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "down");
            }
            if s.lease.is_some() {
                return status(StatusCode::CONFLICT, "AlreadyExists", "exists");
            }
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            s.rv += 1;
            s.writes += 1;
            v["metadata"]["resourceVersion"] = json!(s.rv.to_string());
            v["metadata"]["namespace"] = json!("ns");
            s.lease = Some(v.clone());
            json_resp(StatusCode::CREATED, v)
        }
        (Method::PUT, p) if p == format!("{BASE}/lead") => {
            if s.fail_writes {
                return status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "down");
            }
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            let want = v["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string);
            if s.lease.is_none() || want != Some(s.rv.to_string()) {
                return status(
                    StatusCode::CONFLICT,
                    "Conflict",
                    "the object has been modified",
                );
            }
            s.rv += 1;
            s.writes += 1;
            v["metadata"]["resourceVersion"] = json!(s.rv.to_string());
            s.lease = Some(v.clone());
            json_resp(StatusCode::OK, v)
        }
        _ => status(StatusCode::NOT_FOUND, "NotFound", "no route"),
    }
}

async fn lease_server() -> (kube::Client, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store: Shared = Arc::default();
    let s = store.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let s = s.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let s = s.clone();
                    async move { Ok::<_, Infallible>(handle(s, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    (kube::Client::try_from(config).unwrap(), store)
}

fn fast() -> LeaderTimings {
    LeaderTimings {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(200),
    }
}

fn record(store: &Shared) -> LeaderRecord {
    let lease: Lease =
        serde_json::from_value(store.lock().unwrap().lease.clone().unwrap()).unwrap();
    LeaderRecord::from_spec(lease.spec.as_ref())
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn one_leader_then_handover_on_release() {
    let (client, store) = lease_server().await;
    let a = LeaderElector::new(client.clone(), "ns", "lead", "a", fast())
        .unwrap()
        .spawn();
    tokio::time::timeout(Duration::from_secs(5), a.wait_leading())
        .await
        .unwrap();
    let b = LeaderElector::new(client, "ns", "lead", "b", fast())
        .unwrap()
        .spawn();
    // b keeps observing a's renewals and never takes over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(a.is_leader());
    assert!(!b.is_leader());
    let rec = record(&store);
    assert_eq!(rec.holder.as_deref(), Some("a"));
    assert_eq!(rec.transitions, 0);
    assert_eq!(rec.lease_duration_seconds, 2);
    assert!(rec.renew_time > rec.acquire_time, "a renewed: {rec:?}");

    a.shutdown().await;
    let released = record(&store);
    assert!(released.holder.is_none() || released.holder.as_deref() == Some("b"));
    tokio::time::timeout(Duration::from_secs(5), b.wait_leading())
        .await
        .unwrap();
    let rec = record(&store);
    assert_eq!(rec.holder.as_deref(), Some("b"));
    assert_eq!(rec.transitions, 1);
    b.shutdown().await;
}

#[tokio::test]
async fn expired_lease_of_a_dead_holder_is_taken_over() {
    let (client, store) = lease_server().await;
    {
        let mut s = store.lock().unwrap();
        s.rv = 7;
        s.lease = Some(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "lead", "namespace": "ns", "resourceVersion": "7"},
            "spec": {"holderIdentity": "ghost", "leaseDurationSeconds": 1,
                     "acquireTime": "2020-01-01T00:00:00.000000Z",
                     "renewTime": "2020-01-01T00:00:00.000000Z", "leaseTransitions": 4}
        }));
    }
    let started = tokio::time::Instant::now();
    let c = LeaderElector::new(client, "ns", "lead", "c", fast())
        .unwrap()
        .spawn();
    tokio::time::timeout(Duration::from_secs(5), c.wait_leading())
        .await
        .unwrap();
    // The ghost's lease counted from when c first saw it, not from its ancient renewTime.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let rec = record(&store);
    assert_eq!(rec.holder.as_deref(), Some("c"));
    assert_eq!(rec.transitions, 5);
    c.shutdown().await;
}

#[tokio::test]
async fn leadership_is_lost_when_renewals_fail() {
    let (client, store) = lease_server().await;
    let a = LeaderElector::new(client, "ns", "lead", "a", fast())
        .unwrap()
        .spawn();
    tokio::time::timeout(Duration::from_secs(5), a.wait_leading())
        .await
        .unwrap();
    let mut rx = a.subscribe();
    store.lock().unwrap().fail_writes = true;
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|l| !*l))
        .await
        .unwrap()
        .unwrap();
    // When the server recovers, a (still the recorded holder) leads again.
    store.lock().unwrap().fail_writes = false;
    let st = store.clone();
    eventually("a to lead again", || a.is_leader()).await;
    assert_eq!(record(&st).holder.as_deref(), Some("a"));
    a.shutdown().await;
}
