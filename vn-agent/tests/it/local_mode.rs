//! Local mode (forward to the pod's super node) and the metrics.

use http::StatusCode;

use crate::support::{NODE, World, node, status_of, text};

#[tokio::test]
async fn local_mode_forwards_to_the_pods_node_kubelet() {
    let w = World::start_with(|c, _| {
        c.local_mode = true;
        // Nothing listens at --kubelet-url in local mode's eyes.
        c.kubelet_url = "https://127.0.0.1:1".to_string();
    })
    .await;
    w.sup
        .put_node(node(NODE, "127.0.0.1", w.kubelet.addr.port()))
        .await;
    let a = w.client(&w.a.kubelet_client());
    let resp = a.get("/containerLogs/default/web/app").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(text(resp).await.starts_with("logs of /containerLogs/"));

    // A pod not scheduled yet cannot be reached.
    w.sup
        .put_pod(
            &w.a,
            "default",
            w.a.pod("default", "pending", "a-p-uid", None),
        )
        .await;
    let (code, s) = status_of(a.get("/containerLogs/default/pending/app").await.unwrap()).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(s["message"].as_str().unwrap().contains("not scheduled"));
    // A pod whose node is gone.
    w.sup
        .put_pod(
            &w.a,
            "default",
            w.a.pod("default", "orphan", "a-o-uid", Some("gone")),
        )
        .await;
    let (code, _) = status_of(a.get("/containerLogs/default/orphan/app").await.unwrap()).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(w.kubelet.count(), 1);
}

#[tokio::test]
async fn unreachable_kubelet_is_a_502_with_a_reason() {
    let w = World::start_with(|c, _| c.kubelet_url = "https://127.0.0.1:1".to_string()).await;
    let (code, s) = status_of(
        w.client(&w.a.kubelet_client())
            .get("/containerLogs/default/web/app")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_GATEWAY);
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach the kubelet")
    );
}

#[tokio::test]
async fn metrics_count_requests_and_failures_per_tenant() {
    let w = World::start().await;
    let a = w.client(&w.a.kubelet_client());
    assert_eq!(
        a.get("/containerLogs/default/web/app")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        a.get("/stats/summary").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let forged = w.client(&w.a.ca.client(w.b.key()));
    assert_eq!(
        forged.get("/pods").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    let metrics = prometheus::TextEncoder::new()
        .encode_to_string(&w.agent.registry().gather())
        .unwrap();
    let key = w.a.key();
    for line in [
        format!(r#"vn_agent_requests_total{{action="logs",code="200",tenant="{key}"}} 1"#),
        format!(r#"vn_agent_requests_total{{action="refused",code="403",tenant="{key}"}} 1"#),
        format!(
            r#"vn_agent_request_failures_total{{action="refused",reason="node_wide",tenant="{key}"}} 1"#
        ),
        r#"vn_agent_request_failures_total{action="pods",reason="untrusted_cert",tenant="-"} 1"#
            .to_string(),
        format!(r#"vn_agent_requests_in_flight{{tenant="{key}"}} 0"#),
        format!(r#"vn_agent_request_duration_seconds_count{{action="logs",tenant="{key}"}} 1"#),
    ] {
        assert!(metrics.contains(&line), "missing {line} in\n{metrics}");
    }
}

#[tokio::test]
async fn unusable_kubelet_client_certificate_stops_start_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("tls.crt");
    std::fs::write(&empty, "").unwrap();
    let mut config = vn_agent::Config::local();
    config.kubelet_client_certificate = Some(empty.clone());
    config.kubelet_client_key = Some(empty.clone());
    let err = vn_agent::start_with(config, std::sync::Arc::new(vn_agent::MemorySuper::new()))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&empty.display().to_string()),
        "{err}"
    );
}
