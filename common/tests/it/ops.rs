use common::ops::{Readiness, serve_ops};
use http::StatusCode;

use crate::support::http_get;

#[tokio::test]
async fn serves_metrics_health_and_readiness() {
    let registry = prometheus::Registry::new();
    let counter = prometheus::IntCounter::new("test_things_total", "Things seen.").unwrap();
    registry.register(Box::new(counter.clone())).unwrap();
    counter.inc_by(3);
    let readiness = Readiness::not_ready("caches not synced");
    let ops = serve_ops("127.0.0.1:0".parse().unwrap(), registry, readiness.clone())
        .await
        .unwrap();
    let addr = ops.local_addr();
    assert_ne!(addr.port(), 0);

    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("# TYPE test_things_total counter"), "{body}");
    assert!(body.contains("test_things_total 3"), "{body}");

    for path in ["/healthz", "/livez"] {
        assert_eq!(
            http_get(addr, path).await,
            (StatusCode::OK, "ok".to_string())
        );
    }
    let (status, body) = http_get(addr, "/readyz").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("caches not synced"), "{body}");
    readiness.set_ready();
    assert_eq!(
        http_get(addr, "/readyz").await,
        (StatusCode::OK, "ok".to_string())
    );

    let (status, _) = http_get(addr, "/other").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    ops.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn bind_failure_is_reported() {
    let first = serve_ops(
        "127.0.0.1:0".parse().unwrap(),
        prometheus::Registry::new(),
        Readiness::ready(),
    )
    .await
    .unwrap();
    let err = serve_ops(
        first.local_addr(),
        prometheus::Registry::new(),
        Readiness::ready(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot listen"), "{err}");
    first.shutdown().await.unwrap();
}
