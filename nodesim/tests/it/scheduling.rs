//! The scheduler against the embedded API server.

use k8s_openapi::api::core::v1::Toleration;
use nodesim::PoolConfig;

use crate::harness::*;

#[tokio::test]
async fn pods_land_on_fitting_nodes_and_run() {
    let env = start(vec![pool("small", 1, "1"), pool("big", 1, "4")]).await;
    namespace(&env.client, "apps").await;
    create(&env.client, "apps", pod("web", Some("2"))).await;
    let p = running(&env.client, "apps", "web").await;
    let spec = p.spec.as_ref().unwrap();
    assert_eq!(
        spec.node_name.as_deref(),
        Some("big-0"),
        "only big fits 2 cpu"
    );
    let st = p.status.as_ref().unwrap();
    // big-0 is the second node: its pod CIDR is the second /24 of 10.64.0.0/10.
    assert!(
        st.pod_ip.as_deref().unwrap().starts_with("10.64.1."),
        "{:?}",
        st.pod_ip
    );
    assert_eq!(st.host_ip.as_deref(), Some("127.0.0.1"));
    for kind in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        assert_eq!(
            condition(&p, kind).map(|c| c.status.as_str()),
            Some("True"),
            "{kind}"
        );
    }
    let cs = &st.container_statuses.as_ref().unwrap()[0];
    assert!(cs.ready);
    assert_eq!(cs.restart_count, 0);
    assert!(cs.image_id.contains("@sha256:"));
}

#[tokio::test]
async fn a_pod_that_fits_nowhere_stays_pending_with_the_reason() {
    let env = start(vec![pool("small", 1, "1"), pool("big", 1, "4")]).await;
    namespace(&env.client, "apps").await;
    create(&env.client, "apps", pod("huge", Some("64"))).await;
    let p = eventually("Unschedulable condition", || async {
        get(&env.client, "apps", "huge")
            .await
            .filter(|p| condition(p, "PodScheduled").is_some_and(|c| c.status == "False"))
    })
    .await;
    let c = condition(&p, "PodScheduled").unwrap();
    assert_eq!(c.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(
        c.message.as_deref(),
        Some("0/2 nodes are available: 2 Insufficient cpu.")
    );
    assert_eq!(phase(&p), "Pending");
    assert!(p.spec.unwrap().node_name.is_none());
}

#[tokio::test]
async fn taints_node_selectors_and_max_pods_hold() {
    let tainted = PoolConfig {
        name: "vk".into(),
        count: 1,
        provider_taint: true,
        ..Default::default()
    };
    let tiny = PoolConfig {
        name: "tiny".into(),
        count: 1,
        max_pods: 1,
        labels: [("disk".to_string(), "ssd".to_string())].into(),
        ..Default::default()
    };
    let env = start(vec![tainted, tiny]).await;
    namespace(&env.client, "t").await;

    // Fills the only untainted node (max 1 pod).
    let mut first = pod("first", None);
    first.spec.as_mut().unwrap().node_selector =
        Some([("disk".to_string(), "ssd".to_string())].into());
    create(&env.client, "t", first).await;
    let p = running(&env.client, "t", "first").await;
    assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("tiny-0"));

    // No toleration and the ssd node is full: pending with both reasons.
    create(&env.client, "t", pod("blocked", None)).await;
    let p = eventually("blocked unschedulable", || async {
        get(&env.client, "t", "blocked")
            .await
            .filter(|p| condition(p, "PodScheduled").is_some_and(|c| c.status == "False"))
    })
    .await;
    assert_eq!(
        condition(&p, "PodScheduled").unwrap().message.as_deref(),
        Some(
            "0/2 nodes are available: 1 Too many pods, 1 node(s) had untolerated taint {virtual-kubelet.io/provider: nodesim}."
        )
    );

    // A toleration opens the virtual-kubelet node.
    let mut tolerant = pod("tolerant", None);
    tolerant.spec.as_mut().unwrap().tolerations = Some(vec![Toleration {
        key: Some("virtual-kubelet.io/provider".into()),
        operator: Some("Exists".into()),
        effect: Some("NoSchedule".into()),
        ..Default::default()
    }]);
    create(&env.client, "t", tolerant).await;
    let p = running(&env.client, "t", "tolerant").await;
    assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("vk-0"));

    // nodeSelector that matches nothing.
    let mut lost = pod("lost", None);
    lost.spec.as_mut().unwrap().node_selector =
        Some([("disk".to_string(), "tape".to_string())].into());
    create(&env.client, "t", lost).await;
    let p = eventually("lost unschedulable", || async {
        get(&env.client, "t", "lost")
            .await
            .filter(|p| condition(p, "PodScheduled").is_some_and(|c| c.status == "False"))
    })
    .await;
    assert!(
        condition(&p, "PodScheduled")
            .unwrap()
            .message
            .as_deref()
            .unwrap()
            .contains("didn't match Pod's node affinity/selector"),
    );
}
