//! The `nodesim` binary against the embedded API server.

use apiserver::ServerBuilder;
use k8s_openapi::api::core::v1::Node;
use kube::Api;

use crate::harness::*;

#[tokio::test]
async fn binary_registers_pools_and_schedules() {
    common::process::install_crypto_provider();
    let srv = ServerBuilder::new().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let ca = dir.path().join("client-ca.pem");
    std::fs::write(&kubeconfig, srv.kubeconfig_yaml()).unwrap();
    std::fs::write(&ca, srv.client_ca_pem()).unwrap();
    let _child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nodesim"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "--nodes",
            "2",
            "--pool",
            "name=gpu,count=1,gpu=1,cpu=4,taint=dedicated=ml:NoSchedule",
        ])
        .args([
            "--kubelet-listen",
            "127.0.0.1:0",
            "--ops-listen",
            "127.0.0.1:0",
        ])
        .arg("--client-ca")
        .arg(&ca)
        .args(["--renew-interval", "1s", "--log-text"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nodesim binary");
    let client = srv.client();
    let nodes: Api<Node> = Api::all(client.clone());
    let gpu = eventually("three nodes", || async {
        let list = nodes.list(&Default::default()).await.ok()?;
        (list.items.len() == 3).then_some(())?;
        nodes.get_opt("gpu-0").await.ok()?
    })
    .await;
    let taints = gpu.spec.unwrap().taints.unwrap();
    assert_eq!(taints[0].key, "dedicated");
    assert_eq!(
        gpu.status.unwrap().capacity.unwrap()["nvidia.com/gpu"].0,
        "1"
    );
    namespace(&client, "cli").await;
    create(&client, "cli", pod("p", None)).await;
    let p = running(&client, "cli", "p").await;
    assert!(p.spec.unwrap().node_name.unwrap().starts_with("nodesim-"));
}
