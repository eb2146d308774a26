//! `KubeSuper` speaks the Kubernetes API: the requests it makes and how it reads answers
//! (404 = absent), checked against a recording HTTP endpoint.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use vn_agent::{KubeSuper, SuperCluster};

fn answer(path: &str) -> (StatusCode, serde_json::Value) {
    match path {
        "/api/v1/namespaces/root" => (
            StatusCode::OK,
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"root","annotations":{"tenancy.x-k8s.io/vcrootns":"true"}}}),
        ),
        "/api/v1/namespaces/root/secrets/root-ca" => (
            StatusCode::OK,
            json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"root-ca","namespace":"root"},"data":{"tls.crt":"Y2E="}}),
        ),
        "/api/v1/namespaces/ns/pods/p" => (
            StatusCode::OK,
            json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns","uid":"u"}}),
        ),
        "/api/v1/pods" => (
            StatusCode::OK,
            json!({"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"1"},"items":[
                {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns"}}]}),
        ),
        "/api/v1/nodes/n" => (
            StatusCode::OK,
            json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"n"}}),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            json!({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"not found"}),
        ),
    }
}

#[tokio::test]
async fn reads_objects_and_treats_404_as_absent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let s = s.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    s.lock()
                        .unwrap()
                        .push(req.uri().path_and_query().unwrap().to_string());
                    let (code, body) = answer(req.uri().path());
                    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
                    *r.status_mut() = code;
                    r.headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    let client =
        kube::Client::try_from(kube::Config::new(format!("http://{addr}").parse().unwrap()))
            .unwrap();
    let sup = KubeSuper::new(client);

    let ns = sup.namespace("root").await.unwrap().unwrap();
    assert_eq!(ns.metadata.name.as_deref(), Some("root"));
    assert!(sup.namespace("other").await.unwrap().is_none());
    let secret = sup.secret("root", "root-ca").await.unwrap().unwrap();
    assert_eq!(secret.data.unwrap()["tls.crt"].0, b"ca");
    assert!(sup.secret("other", "root-ca").await.unwrap().is_none());
    assert_eq!(
        sup.pod("ns", "p")
            .await
            .unwrap()
            .unwrap()
            .metadata
            .uid
            .as_deref(),
        Some("u")
    );
    assert!(sup.pod("ns", "q").await.unwrap().is_none());
    assert_eq!(sup.pods(Some("node-1")).await.unwrap().len(), 1);
    assert!(sup.node("n").await.unwrap().is_some());
    assert!(sup.node("m").await.unwrap().is_none());

    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(
            |p| p == "/api/v1/pods?&fieldSelector=spec.nodeName%3Dnode-1"
                || p == "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1"
        ),
        "{seen:?}"
    );
}
