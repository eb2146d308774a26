//! Requests as each kubectl sends them: kubectl 1.32+ posts protobuf for token requests and
//! the auth reviews, kubectl up to 1.31 posts `"boundObjectRef": null` for `create token`, and
//! kubectl 1.27/1.28 read `/openapi/v2` as protobuf before apply, create -f, replace, diff,
//! edit and explain.

use crate::harness::{Kubectl, eventually, server};

/// A JWT: three non-empty base64url segments.
fn is_jwt(text: &str) -> bool {
    let parts: Vec<&str> = text.trim().split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty())
}

/// Every command that posts a body outside the CRUD path, with one kubectl.
fn token_and_reviews(k: &Kubectl) {
    let token = k.ok(&["create", "token", "default"]);
    assert!(is_jwt(&token), "not a token: {token}");
    let token = k.ok(&[
        "create",
        "token",
        "default",
        "--duration=20m",
        "--audience=example",
    ]);
    assert!(is_jwt(&token), "not a token: {token}");
    assert_eq!(k.ok(&["auth", "can-i", "get", "pods"]).trim(), "yes");
    let rules = k.ok(&["auth", "can-i", "--list"]);
    assert!(
        rules
            .lines()
            .next()
            .unwrap_or_default()
            .contains("Resources"),
        "{rules}"
    );
    let whoami = k.ok(&["auth", "whoami"]);
    assert!(whoami.contains("admin"), "{whoami}");
    assert!(whoami.contains("system:masters"), "{whoami}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_posts_protobuf_reviews_and_token_requests() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let sas: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        kube::Api::namespaced(srv.client(), "default");
    eventually(10, || async { sas.get_opt("default").await.unwrap() }).await;
    tokio::task::spawn_blocking(move || token_and_reviews(&k))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_128_creates_unbound_tokens() {
    let srv = server().await;
    let Some(k) = Kubectl::versioned(&srv, "1.28") else {
        return;
    };
    let sas: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        kube::Api::namespaced(srv.client(), "default");
    eventually(10, || async { sas.get_opt("default").await.unwrap() }).await;
    tokio::task::spawn_blocking(move || token_and_reviews(&k))
        .await
        .unwrap();
}

/// The manifest commands, including apply of the `kind: List` that `get -o yaml` writes.
fn manifests(k: &Kubectl, dir: &std::path::Path) {
    k.ok(&["create", "deployment", "web", "--image=nginx"]);
    let list = dir.join("list.yaml");
    std::fs::write(&list, k.ok(&["get", "deployments", "-o", "yaml"])).unwrap();
    let out = k.ok(&["apply", "-f", list.to_str().unwrap()]);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n";
    k.ok_stdin(&["create", "-f", "-"], cm);
    let (ok, diff, err) = k.run_stdin(&["diff", "-f", "-"], Some(&cm.replace("a: b", "a: c")));
    // kubectl diff exits 1 when there are differences.
    assert!(!ok && diff.contains("+  a: c"), "{diff}\n{err}");
    let fresh = dir.join("fresh.yaml");
    std::fs::write(
        &fresh,
        k.ok(&["get", "configmap", "settings", "-o", "yaml"]),
    )
    .unwrap();
    k.ok(&["replace", "-f", fresh.to_str().unwrap()]);
    let explained = k.ok(&["explain", "pods.spec.containers"]);
    assert!(
        explained.contains("FIELD: containers <[]Container>"),
        "{explained}"
    );
    let out = k.ok(&["get", "configmap", "settings", "-o", "jsonpath={.data.a}"]);
    assert_eq!(out, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_lists_and_explains() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let dir = tempfile::tempdir().unwrap();
    tokio::task::spawn_blocking(move || manifests(&k, dir.path()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_128_applies_lists_and_explains_with_openapi_v2_protobuf() {
    let srv = server().await;
    let Some(k) = Kubectl::versioned(&srv, "1.28") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    tokio::task::spawn_blocking(move || manifests(&k, dir.path()))
        .await
        .unwrap();
}
