//! Deleting a VirtualCluster removes everything vc-manager provisioned.

use std::time::Duration;

use crds::Provisioner;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::DeleteParams;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_leaves_nothing_behind() {
    let env = Env::start().await;
    env.create("gone", spec(Provisioner::Local)).await;
    let vc = env.wait_running("gone").await;
    let key = vc.status.unwrap().cluster_namespace.unwrap();
    let state = env.state.path().join(&key);
    assert!(
        state.join("ports.json").exists(),
        "local state in {}",
        state.display()
    );
    let tenant = client_from(&env.admin_kubeconfig(&key).await).await;

    env.vcs()
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let vc_left = env.vcs().get_opt("gone").await.unwrap().is_some();
        let ns_left = namespaces.get_opt(&key).await.unwrap().is_some();
        if !vc_left && !ns_left {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still there after 60s: vc {vc_left}, root namespace {ns_left}; status {:?}",
            env.vcs()
                .get_opt("gone")
                .await
                .unwrap()
                .and_then(|v| v.status)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!state.exists(), "local state removed");
    assert!(env.secrets(&key).await.is_empty(), "no secret left");
    // The tenant API server is stopped.
    let answer = tokio::time::timeout(Duration::from_secs(5), tenant.apiserver_version()).await;
    assert!(
        !matches!(answer, Ok(Ok(_))),
        "tenant API server still answers"
    );
    env.stop().await;
}
