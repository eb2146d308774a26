//! Pod and node lifecycle through the kubelet path.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;

use crate::harness::*;

#[tokio::test]
async fn nodes_register_with_capacity_labels_and_endpoints() {
    let gpu = nodesim::PoolConfig {
        name: "gpu".into(),
        count: 1,
        gpu: 2,
        node_class: Some("0b7c6a8e-58f4-4d56-9a53-2f7a7f2b1c11".into()),
        flavor: Some("g.medium".into()),
        ..Default::default()
    };
    let env = start(vec![gpu]).await;
    let node = Api::<Node>::all(env.client.clone())
        .get("gpu-0")
        .await
        .unwrap();
    let labels = node.metadata.labels.clone().unwrap();
    assert_eq!(labels["kubernetes.io/hostname"], "gpu-0");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert_eq!(
        labels["kubernetes.region.unikorn-cloud.org/node-class"],
        "0b7c6a8e-58f4-4d56-9a53-2f7a7f2b1c11"
    );
    let st = node.status.unwrap();
    assert_eq!(st.capacity.as_ref().unwrap()["nvidia.com/gpu"].0, "2");
    assert_eq!(st.allocatable.as_ref().unwrap()["pods"].0, "110");
    let port = st.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port;
    assert_eq!(port, i32::from(env.sim.kubelet_addr().port()));
    let ready = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "True");
    let addresses: Vec<(String, String)> = st
        .addresses
        .unwrap()
        .into_iter()
        .map(|a| (a.type_, a.address))
        .collect();
    assert_eq!(
        addresses,
        [("InternalIP", "127.0.0.1"), ("Hostname", "localhost")].map(|(t, a)| (t.into(), a.into()))
    );
}

#[tokio::test]
async fn a_restarted_kubelet_keeps_what_admins_set_on_its_node() {
    let env = start(vec![pool("n", 1, "2")]).await;
    let nodes: Api<Node> = Api::all(env.client.clone());
    let admin = serde_json::json!({
        "metadata": {"labels": {"team": "a"}},
        "spec": {"unschedulable": true, "taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]},
    });
    nodes
        .patch(
            "n-0",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&admin),
        )
        .await
        .unwrap();
    env.sim.shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The same nodes register again, as after a restart of `vcctl up`.
    let mut cfg = nodesim::NodesimConfig::new(env.srv.kube_config(), 0, env.srv.client_ca_pem());
    cfg.pools = vec![pool("n", 1, "2")];
    let again = nodesim::start(cfg).await.unwrap();
    again.wait_ready(Duration::from_secs(30)).await.unwrap();
    let node = nodes.get("n-0").await.unwrap();
    let labels = node.metadata.labels.clone().unwrap();
    assert_eq!(labels["team"], "a");
    assert_eq!(labels["kubernetes.io/hostname"], "n-0");
    let spec = node.spec.clone().unwrap();
    assert_eq!(spec.unschedulable, Some(true));
    let taints = spec.taints.unwrap();
    assert!(
        taints
            .iter()
            .any(|t| t.key == "dedicated" && t.value.as_deref() == Some("db")),
        "{taints:?}"
    );
    again.shutdown();
}

#[tokio::test]
async fn leases_renew() {
    let env = start(vec![pool("n", 1, "2")]).await;
    let api: Api<Lease> = Api::namespaced(env.client.clone(), "kube-node-lease");
    let first = eventually("lease", || async { api.get_opt("n-0").await.unwrap() }).await;
    let spec = first.spec.clone().unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("n-0"));
    assert_eq!(spec.lease_duration_seconds, Some(4));
    let t0 = spec.renew_time.unwrap().0;
    let renewed = eventually("renewal", || async {
        let l = api.get("n-0").await.unwrap();
        let t = l.spec.as_ref()?.renew_time.as_ref()?.0;
        (t > t0).then_some(t)
    })
    .await;
    assert!(renewed > t0);
}

#[tokio::test]
async fn deletion_finishes_through_the_kubelet() {
    let env = start(vec![pool("n", 1, "2")]).await;
    namespace(&env.client, "d").await;
    create(&env.client, "d", pod("bye", None)).await;
    running(&env.client, "d", "bye").await;
    let api: Api<Pod> = Api::namespaced(env.client.clone(), "d");
    // Graceful deletion: the API server only marks the pod; the kubelet stops it and deletes it
    // with grace 0 (nothing else in this cluster would).
    let marked = api.delete("bye", &Default::default()).await.unwrap();
    let marked = marked.left().expect("a bound pod is deleted gracefully");
    assert!(marked.metadata.deletion_timestamp.is_some());
    eventually("pod gone", || async {
        get(&env.client, "d", "bye").await.is_none().then_some(())
    })
    .await;
    // The provider no longer runs it.
    assert!(
        env.sim
            .provider()
            .get_pod("d", "bye")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn failures_can_be_injected() {
    let env = start(vec![pool("n", 2, "2")]).await;
    namespace(&env.client, "f").await;
    let mut crashing = pod("crash", None);
    crashing.metadata.annotations = Some(
        [
            (
                "nodesim.virtualcluster.io/fail-after".to_string(),
                "200ms".to_string(),
            ),
            (
                "nodesim.virtualcluster.io/exit-code".to_string(),
                "7".to_string(),
            ),
        ]
        .into(),
    );
    crashing.spec.as_mut().unwrap().restart_policy = Some("Never".into());
    create(&env.client, "f", crashing).await;
    let failed = eventually("crash Failed", || async {
        get(&env.client, "f", "crash")
            .await
            .filter(|p| phase(p) == "Failed")
    })
    .await;
    let term = failed.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(term.exit_code, 7);

    // A node that goes NotReady gets the not-ready taint; new pods avoid it.
    let mock = env.sim.mock().unwrap();
    mock.set_node_ready("n-0", false);
    eventually("NotReady", || async {
        let n = Api::<Node>::all(env.client.clone())
            .get("n-0")
            .await
            .unwrap();
        let ready = n
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        (ready.status == "False").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..3 {
        create(&env.client, "f", pod(&format!("p{i}"), None)).await;
        let p = running(&env.client, "f", &format!("p{i}")).await;
        assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("n-1"));
    }

    // A node that disappears: its pods are marked Failed.
    env.sim.remove_node("n-1").await.unwrap();
    let lost = eventually("pods of the lost node Failed", || async {
        get(&env.client, "f", "p0")
            .await
            .filter(|p| phase(p) == "Failed")
    })
    .await;
    assert_eq!(
        lost.status.as_ref().unwrap().reason.as_deref(),
        Some("NodeLost")
    );
    assert!(
        Api::<Node>::all(env.client.clone())
            .get_opt("n-1")
            .await
            .unwrap()
            .is_none()
    );
}
