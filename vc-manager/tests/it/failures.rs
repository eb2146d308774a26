//! Broken specs fail with a condition that says what to fix, and recover once fixed.

use crds::condition::{CONDITION_READY, find_condition};
use crds::{ClusterVersion, Provisioner};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::harness::*;

fn ready_message(vc: &crds::VirtualCluster) -> String {
    let s = vc.status.clone().unwrap();
    let c = find_condition(&s.conditions, CONDITION_READY)
        .unwrap()
        .clone();
    assert_eq!(c.status, "False");
    c.message.unwrap_or_default()
}

async fn warnings(env: &Env, name: &str) -> Vec<(String, String)> {
    Api::<Event>::namespaced(env.client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_cluster_version_fails_and_recovers_when_created() {
    let env = Env::start().await;
    // Native renders the ClusterVersion (local and import never read it).
    let mut s = spec(Provisioner::Native);
    s.cluster_version_name = "v9.99".into();
    env.create("cv", s).await;
    let vc = env.wait_failed("cv", "ClusterVersionNotFound").await;
    let msg = ready_message(&vc);
    assert!(
        msg.contains("\"v9.99\"") && msg.contains("existing: v1.31"),
        "{msg}"
    );
    let w = warnings(&env, "cv").await;
    assert!(
        w.iter()
            .any(|(r, n)| r == "ClusterVersionNotFound" && n.contains("v9.99")),
        "{w:?}"
    );

    // Creating the missing ClusterVersion is enough: its watch brings the VC back.
    let mut cv: ClusterVersion = serde_yaml::from_str(SAMPLE_CV).unwrap();
    cv.metadata.name = Some("v9.99".into());
    Api::<ClusterVersion>::all(env.client.clone())
        .create(&PostParams::default(), &cv)
        .await
        .unwrap();
    // Provisioning goes on: the control plane's workloads are created and awaited.
    env.wait_vc("cv", "waiting for its control plane", |vc| {
        vc.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("WaitingForControlPlane")
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_service_cidr_fails_and_recovers_when_fixed() {
    let env = Env::start().await;
    let mut s = spec(Provisioner::Local);
    s.service_cidr = Some("10.40.0.7/16".into());
    env.create("cidr", s).await;
    let vc = env.wait_failed("cidr", "InvalidServiceCIDR").await;
    let msg = ready_message(&vc);
    assert!(msg.contains("did you mean \"10.40.0.0/16\""), "{msg}");
    // Nothing was provisioned for a spec that cannot work.
    let key = vc.status.unwrap().cluster_namespace.unwrap();
    assert!(env.secrets(&key).await.is_empty());

    env.vcs()
        .patch(
            "cidr",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"serviceCidr": "10.40.0.0/16"}})),
        )
        .await
        .unwrap();
    let vc = env.wait_running("cidr").await;
    assert_eq!(
        vc.status.unwrap().observed_generation,
        vc.metadata.generation
    );
    let api = env.secrets(&key).await;
    let (cert, _) = vc_manager::pki::secrets::read_tls(&api["apiserver-ca"]).unwrap();
    let info = vc_manager::pki::inspect::parse_cert_pem(&cert).unwrap();
    assert!(info.ips.contains(&"10.40.0.1".parse().unwrap()));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_without_a_secret_and_disabled_provisioners_say_what_to_do() {
    let env = Env::start_with(|c| {
        c.provisioners.remove(&Provisioner::Native);
    })
    .await;
    env.create("imp", spec(Provisioner::Import)).await;
    let vc = env.wait_failed("imp", "ImportSecretNotSet").await;
    assert!(ready_message(&vc).contains("spec.importKubeconfigSecret"));

    env.vcs()
        .patch(
            "imp",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"importKubeconfigSecret": "nope"}})),
        )
        .await
        .unwrap();
    let vc = env.wait_failed("imp", "ImportSecretNotFound").await;
    assert!(ready_message(&vc).contains("create secret generic nope"));

    env.create("nat", spec(Provisioner::Native)).await;
    let vc = env.wait_failed("nat", "ProvisionerNotEnabled").await;
    assert!(ready_message(&vc).contains("\"native\""));
    env.stop().await;
}
