//! What a tenant may do: logs (following), exec/attach/run with upgrades, port-forward, /pods.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;

use crate::support::{NODE, World, text, upgrade_roundtrip};

#[tokio::test]
async fn logs_follow_stream_through_with_super_namespace() {
    let w = World::start().await;
    let client = w.client(&w.a.kubelet_client());
    let resp = client
        .get("/containerLogs/default/web/app?follow=true&tailLines=5&timestamps=true")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("the first line must arrive while the kubelet holds back the rest")
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), Bytes::from("line 1\n"));
    w.kubelet.release.notify_one();
    assert_eq!(
        body.collect().await.unwrap().to_bytes(),
        Bytes::from("line 2\n")
    );
    assert_eq!(
        w.kubelet.last(),
        format!(
            "/containerLogs/{}/web/app?follow=true&tailLines=5&timestamps=true",
            w.a.super_ns("default")
        )
    );
}

#[tokio::test]
async fn plain_logs_reach_the_kubelet_with_vn_agents_certificate() {
    let w = World::start().await;
    let resp = w
        .client(&w.a.kubelet_client())
        .get("/containerLogs/default/web/app")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = text(resp).await;
    // The kubelet authenticated vn-agent, not the tenant.
    assert!(body.ends_with("for vn-agent\n"), "{body}");
}

#[tokio::test]
async fn exec_attach_run_and_port_forward_upgrades_are_spliced() {
    let w = World::start().await;
    let client = w.client(&w.a.kubelet_client());
    let sns = w.a.super_ns("default");
    let super_uid = w.sup.pod_uid(&sns, "web").await;

    upgrade_roundtrip(
        &client,
        Method::POST,
        "/exec/default/web/a-web-uid/app?command=echo&command=hi&output=1&error=1",
        "SPDY/3.1",
    )
    .await;
    assert_eq!(
        w.kubelet.last(),
        format!("/exec/{sns}/web/{super_uid}/app?command=echo&command=hi&output=1&error=1")
    );

    upgrade_roundtrip(
        &client,
        Method::GET,
        "/exec/default/web/app?command=sh&input=1&output=1&tty=1",
        "websocket",
    )
    .await;
    assert_eq!(
        w.kubelet.last(),
        format!("/exec/{sns}/web/app?command=sh&input=1&output=1&tty=1")
    );

    upgrade_roundtrip(
        &client,
        Method::POST,
        "/attach/default/web/app?input=1&output=1",
        "SPDY/3.1",
    )
    .await;
    assert_eq!(
        w.kubelet.last(),
        format!("/attach/{sns}/web/app?input=1&output=1")
    );

    upgrade_roundtrip(
        &client,
        Method::POST,
        "/run/default/web/app?cmd=ls",
        "SPDY/3.1",
    )
    .await;
    assert_eq!(w.kubelet.last(), format!("/run/{sns}/web/app?cmd=ls"));

    upgrade_roundtrip(
        &client,
        Method::POST,
        "/portForward/default/web?port=80",
        "SPDY/3.1",
    )
    .await;
    assert_eq!(w.kubelet.last(), format!("/portForward/{sns}/web?port=80"));

    upgrade_roundtrip(
        &client,
        Method::GET,
        "/portForward/default/web/a-web-uid",
        "websocket",
    )
    .await;
    assert_eq!(
        w.kubelet.last(),
        format!("/portForward/{sns}/web/{super_uid}")
    );
    assert_eq!(w.kubelet.count(), 6);
}

#[tokio::test]
async fn kubelet_refusals_of_upgrades_pass_through() {
    let w = World::start().await;
    // No Upgrade header: the stand-in kubelet answers 400 itself.
    let resp = w
        .client(&w.a.kubelet_client())
        .send(
            http::Request::post("/exec/default/web/app?command=ls")
                .body(crate::support::full(""))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(w.kubelet.count(), 1);
}

#[tokio::test]
async fn pods_lists_only_the_tenants_pods_in_its_own_terms() {
    let w = World::start().await;
    // One of alpha's pods is elsewhere: not listed for this node.
    w.sup
        .put_pod(
            &w.a,
            "default",
            w.a.pod("default", "far", "a-far-uid", Some("node-2")),
        )
        .await;
    let resp = w.client(&w.a.kubelet_client()).get("/pods").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
    assert_eq!(v["kind"], "PodList");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["metadata"]["namespace"], "default");
    assert_eq!(items[0]["metadata"]["uid"], "a-web-uid");
    assert_eq!(items[0]["spec"]["nodeName"], NODE);
    assert!(
        items[0]["metadata"]["annotations"]
            .as_object()
            .is_none_or(|a| a.keys().all(|k| !k.starts_with("tenancy.x-k8s.io/")))
    );
    // Answered from the super cluster: nothing node-wide reached the kubelet.
    assert_eq!(w.kubelet.count(), 0);
}

#[tokio::test]
async fn healthz_is_answered_locally() {
    let w = World::start().await;
    let resp = w
        .client(&w.a.kubelet_client())
        .get("/healthz")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(text(resp).await, "ok");
    assert_eq!(w.kubelet.count(), 0);
    let ops = w.agent.ops_addr();
    let mut stream = tokio::net::TcpStream::connect(ops).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}
