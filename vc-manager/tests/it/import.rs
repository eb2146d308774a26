//! `import`: an existing cluster (a second embedded server) becomes a tenant.

use std::collections::BTreeMap;

use apiserver::ServerBuilder;
use crds::Provisioner;
use crds::condition::{CONDITION_CONTROL_PLANE_READY, find_condition};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_cluster_is_checked_and_published() {
    let env = Env::start().await;
    let other = ServerBuilder::new().start().await.unwrap();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("other-kubeconfig".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "kubeconfig".to_string(),
            ByteString(other.kubeconfig_yaml().as_bytes().to_vec()),
        )])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(env.client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let mut s = spec(Provisioner::Import);
    s.import_kubeconfig_secret = Some("other-kubeconfig".into());
    env.create("imported", s).await;
    let vc = env.wait_running("imported").await;
    let status = vc.status.unwrap();
    let detail = find_condition(&status.conditions, CONDITION_CONTROL_PLANE_READY)
        .and_then(|c| c.message.clone())
        .unwrap();
    assert!(detail.contains(other.url()), "{detail}");
    let key = status.cluster_namespace.unwrap();

    // The published kubeconfig is the imported one, and it reaches the other cluster.
    let published = env.admin_kubeconfig(&key).await;
    assert_eq!(published, other.kubeconfig_yaml());
    let tenant = client_from(&published).await;
    Api::<Namespace>::all(tenant)
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some("only-in-other".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        Api::<Namespace>::all(other.client())
            .get_opt("only-in-other")
            .await
            .unwrap()
            .is_some()
    );

    // The imported cluster keeps its PKI; vn-agent still gets a tenant CA and identity.
    let names: Vec<String> = env.secrets(&key).await.into_keys().collect();
    assert_eq!(names, vec!["admin-kubeconfig", "kubelet-client", "root-ca"]);

    // When the imported cluster stops answering, the VirtualCluster says so.
    other.shutdown().await;
    let vc = env.wait_failed("imported", "ImportUnreachable").await;
    let msg = vc.status.unwrap().message.unwrap();
    assert!(msg.contains("/version"), "{msg}");
    env.stop().await;
}
