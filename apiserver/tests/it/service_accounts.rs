//! Service accounts: default accounts per namespace, and TokenRequest.

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

use crate::harness::{eventually, server};

#[tokio::test]
async fn service_accounts_and_token_request() {
    let srv = server().await;
    let sas: Api<ServiceAccount> = Api::namespaced(srv.client(), "default");
    eventually(10, || async { sas.get_opt("default").await.unwrap() }).await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let ca = eventually(10, || async {
        cms.get_opt("kube-root-ca.crt").await.unwrap()
    })
    .await;
    assert_eq!(ca.data.unwrap()["ca.crt"], srv.ca_pem());
    let tr: TokenRequest =
        serde_json::from_value(json!({"spec": {"expirationSeconds": 3600}})).unwrap();
    let tr = sas
        .create_token_request("default", &PostParams::default(), &tr)
        .await
        .unwrap();
    let token = tr.status.unwrap().token;
    let mut cfg = srv.kube_config();
    cfg.auth_info = Default::default();
    cfg.auth_info.token = Some(token.clone().into());
    let as_sa = crate::harness::Raw(kube::Client::try_from(cfg).unwrap());
    let review =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).to_string();
    let (code, s) = as_sa
        .send(
            http::Method::POST,
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            "application/json",
            review.into_bytes(),
        )
        .await;
    assert_eq!(code, 201, "{s}");
    assert_eq!(
        s["status"]["userInfo"]["username"],
        "system:serviceaccount:default:default"
    );
    // TokenReview checks the requested audiences, the server's by default.
    let raw = crate::harness::raw(&srv);
    let review = |token: &str, audiences: Value| {
        let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token, "audiences": audiences}});
        let raw = &raw;
        async move {
            let (code, s) = raw
                .send(
                    http::Method::POST,
                    "/apis/authentication.k8s.io/v1/tokenreviews",
                    "application/json",
                    body.to_string().into_bytes(),
                )
                .await;
            assert_eq!(code, 201, "{s}");
            s["status"].clone()
        }
    };
    let st = review(&token, json!([])).await;
    assert_eq!(st["authenticated"], true, "{st}");
    assert_eq!(st["audiences"].as_array().map(Vec::len), Some(1), "{st}");
    let tr: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": ["vault"]}})).unwrap();
    let vault = sas
        .create_token_request("default", &PostParams::default(), &tr)
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    assert_eq!(review(&vault, json!([])).await["authenticated"], false);
    let st = review(&vault, json!(["vault", "other"])).await;
    assert_eq!(
        (st["authenticated"].clone(), st["audiences"].clone()),
        (json!(true), json!(["vault"])),
        "{st}"
    );
    // The token dies with its service account.
    sas.delete("default", &DeleteParams::default())
        .await
        .unwrap();
    let (code, _) = as_sa
        .send(
            http::Method::GET,
            "/api/v1/namespaces",
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(code, 401);
}
