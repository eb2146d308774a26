//! Bad input gets upstream's status codes and Status bodies, never a panic.

use http::Method;
use serde_json::json;

use crate::harness::{raw, server};

#[tokio::test]
async fn malformed_and_mismatched_bodies() {
    let srv = server().await;
    let r = raw(&srv);
    let (code, s) = r
        .send(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(code, 400, "{s}");
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["reason"], "BadRequest");
    let (code, s) = r
        .send(
            Method::POST,
            "/api/v1/namespaces/default/pods",
            "application/json",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(code, 400, "{s}");
    let (code, s) = r
        .send(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (422, Some("Invalid")), "{s}");
    assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");
    let (code, s) = r
        .send(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(code, 422);
    assert!(s["message"].as_str().unwrap().starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{s}");
    let (code, s) = r
        .send(Method::POST, "/api/v1/namespaces/default/pods", "application/json", json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}).to_string().into_bytes())
        .await;
    assert_eq!(code, 422);
    assert_eq!(
        s["details"]["causes"][0]["field"],
        "spec.containers[0].image"
    );
    let (code, s) = r
        .send(Method::POST, "/api/v1/namespaces/default/pods", "application/json", json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": "nope"}}).to_string().into_bytes())
        .await;
    assert_eq!(code, 400, "type errors are decode errors: {s}");
}

#[tokio::test]
async fn bodies_without_kind_take_the_endpoints_type() {
    // The real decoder fills a missing kind/apiVersion from the endpoint; the Python client
    // sends bare model objects that rely on it.
    let srv = server().await;
    let r = raw(&srv);
    let (code, s) = r
        .send(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            json!({"metadata": {"name": "bare"}, "data": {"k": "v"}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(code, 201, "{s}");
    assert_eq!(
        (s["kind"].as_str(), s["apiVersion"].as_str()),
        (Some("ConfigMap"), Some("v1"))
    );
    let (code, s) = r
        .send(
            Method::PUT,
            "/api/v1/namespaces/default/configmaps/bare",
            "application/json",
            json!({"metadata": {"name": "bare"}, "data": {"k": "w"}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(code, 200, "{s}");
    assert_eq!(
        (s["kind"].as_str(), s["data"]["k"].as_str()),
        (Some("ConfigMap"), Some("w"))
    );
    let (code, s) = r
        .send(
            Method::POST,
            "/apis/apps/v1/namespaces/default/deployments",
            "application/json",
            json!({"apiVersion": "v1", "metadata": {"name": "d"}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(code, 400, "a wrong apiVersion is still refused: {s}");
}

#[tokio::test]
async fn unknown_resources_methods_and_media() {
    let srv = server().await;
    let r = raw(&srv);
    let (code, s) = r
        .send(
            Method::GET,
            "/api/v1/namespaces/default/widgets",
            "application/json",
            vec![],
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (404, Some("NotFound")));
    let (code, _) = r
        .send(
            Method::GET,
            "/apis/nope.example.com/v1",
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(code, 404);
    let (code, s) = r
        .send(
            Method::PATCH,
            "/api/v1/namespaces/default",
            "text/plain",
            b"x".to_vec(),
        )
        .await;
    assert_eq!(
        (code, s["reason"].as_str()),
        (415, Some("UnsupportedMediaType")),
        "{s}"
    );
    let (code, s) = r
        .send(
            Method::DELETE,
            "/api/v1/namespaces/default/bindings/x",
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(code, 405, "{s}");
    let (code, _) = r
        .send(
            Method::GET,
            "/api/v1/namespaces/nope/configmaps/x",
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn bodies_over_three_mib_are_refused() {
    let srv = server().await;
    let r = raw(&srv);
    let big = "x".repeat(4 * 1024 * 1024);
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": big}}).to_string();
    let (code, s) = r
        .send(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            body.into_bytes(),
        )
        .await;
    assert_eq!(
        (code, s["reason"].as_str()),
        (413, Some("RequestEntityTooLarge")),
        "{s}"
    );
}

#[tokio::test]
async fn namespace_admission() {
    let srv = server().await;
    let r = raw(&srv);
    let (code, s) = r
        .send(
            Method::POST,
            "/api/v1/namespaces/ghost/configmaps",
            "application/json",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(code, 404, "{s}");
    assert_eq!(s["message"], "namespaces \"ghost\" not found");
    let (code, s) = r
        .send(
            Method::PUT,
            "/api/v1/namespaces/default/configmaps/a",
            "application/json",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(code, 400, "{s}");
}

#[tokio::test]
async fn anonymous_requests_are_unauthorized() {
    let srv = server().await;
    let mut cfg = srv.kube_config();
    cfg.auth_info = Default::default();
    let anon = kube::Client::try_from(cfg).unwrap();
    let r = crate::harness::Raw(anon);
    let (code, s) = r
        .send(
            Method::GET,
            "/api/v1/namespaces",
            "application/json",
            vec![],
        )
        .await;
    // Without credentials a request is `system:anonymous`, which RBAC does not let list
    // namespaces (upstream's default `--anonymous-auth=true`); a bad token is 401.
    assert_eq!(
        (code, s["reason"].as_str()),
        (403, Some("Forbidden")),
        "{s}"
    );
    let (code, _) = r
        .send(Method::GET, "/version", "application/json", vec![])
        .await;
    assert_eq!(code, 200, "version is public");
    let (code, _) = r
        .send(Method::GET, "/healthz", "application/json", vec![])
        .await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn token_auth_file_users() {
    common::process::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.csv");
    std::fs::write(&file, "s3cret,alice,1001,\"dev,ops\"\n").unwrap();
    let srv = apiserver::ServerBuilder::new()
        .token_auth_file(&file)
        .start()
        .await
        .unwrap();
    let mut cfg = srv.kube_config();
    cfg.auth_info = Default::default();
    cfg.auth_info.token = Some("s3cret".to_string().into());
    let alice = crate::harness::Raw(kube::Client::try_from(cfg).unwrap());
    let review =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).to_string();
    let (code, s) = alice
        .send(
            Method::POST,
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            "application/json",
            review.into_bytes(),
        )
        .await;
    assert_eq!(code, 201, "{s}");
    assert_eq!(s["status"]["userInfo"]["username"], "alice");
    assert_eq!(
        s["status"]["userInfo"]["groups"],
        json!(["dev", "ops", "system:authenticated"])
    );
}
