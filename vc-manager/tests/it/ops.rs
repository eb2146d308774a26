//! Operations: `/metrics`, `/healthz`, `/readyz`, and leader election between two instances.

use std::time::Duration;

use common::leader::LeaderTimings;
use crds::Provisioner;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vc_manager::LeaderElection;

use crate::harness::*;

/// A plain HTTP GET: status code and body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_readiness_are_served() {
    let env = Env::start().await;
    let addr = env.manager.as_ref().unwrap().ops_addr().unwrap();
    assert_eq!(get(addr, "/healthz").await.0, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while get(addr, "/readyz").await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    env.create("m", spec(Provisioner::Local)).await;
    env.wait_running("m").await;
    let (code, body) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        body.contains("vc_manager_virtualclusters{phase=\"Running\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("vc_manager_reconciles_total{result=\"ok\"}"),
        "{body}"
    );
    assert!(
        body.contains("vc_manager_steps_total{result=\"ok\",step=\"IssuePKI\"} 1"),
        "{body}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_reconciles_and_a_successor_takes_over() {
    let timings = LeaderTimings {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_millis(500),
    };
    let election = |id: &str| LeaderElection {
        namespace: "default".into(),
        lease_name: "vc-manager".into(),
        identity: id.into(),
        timings,
    };
    let first = election("first");
    let mut env = Env::start_with(move |c| c.leader_election = Some(first)).await;
    env.create("a", spec(Provisioner::Local)).await;
    env.wait_running("a").await;
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), "default");
    let holder = |l: Lease| l.spec.and_then(|s| s.holder_identity);
    assert_eq!(
        holder(leases.get("vc-manager").await.unwrap()).as_deref(),
        Some("first")
    );

    // A second candidate waits while the first leads...
    let state = tempfile::tempdir().unwrap();
    let mut config = manager_config(state.path().to_path_buf());
    config.leader_election = Some(election("second"));
    let second = vc_manager::start(config, env.client.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        holder(leases.get("vc-manager").await.unwrap()).as_deref(),
        Some("first")
    );

    // ...and takes over when the first stops (it releases the lease on shutdown).
    env.manager.take().unwrap().shutdown().await;
    env.create("b", spec(Provisioner::Local)).await;
    env.wait_running("b").await;
    assert_eq!(
        holder(leases.get("vc-manager").await.unwrap()).as_deref(),
        Some("second")
    );
    // The successor also serves the first leader's tenant again: local state is per instance,
    // so it starts its own control plane and re-issues the kubeconfig for the new address.
    let key = env
        .wait_running("a")
        .await
        .status
        .unwrap()
        .cluster_namespace
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tenant = client_from(&env.admin_kubeconfig(&key).await).await;
        if tenant.apiserver_version().await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "tenant a not served by the successor"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    second.shutdown().await;
    env.stop().await;
}
