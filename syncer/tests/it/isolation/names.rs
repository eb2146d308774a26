//! Names: the syncer's own objects and other namespaces' super namespaces cannot be shadowed.

use std::collections::BTreeMap;

use crds::tenancy;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{ListParams, PostParams};

use super::{WAIT, refusal, spec};
use crate::harness::*;

/// Two tenant namespace names that shorten to the same super namespace under `key`.
fn colliding_namespaces(key: &str) -> (String, String) {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for i in 0u32.. {
        let name = format!("{}-{i:08}", "n".repeat(63 - 9));
        let sup = tenancy::super_namespace(key, &name).expect("super namespace");
        if let Some(first) = seen.insert(sup, name.clone()) {
            return (first, name);
        }
    }
    unreachable!("the hash space is finite")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn syncer_objects_and_other_namespaces_cannot_be_shadowed() {
    common::process::install_crypto_provider();
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a"]).await;
    let t = add_tenant(&sc, "shadow", spec()).await;
    let syncer = start_syncer(&sc, syncer_config()).await;
    tenant_ns(&t.client, "app").await;

    // A pod with the standard token volume makes the syncer issue its token secret.
    let pods: Api<Pod> = Api::namespaced(t.client.clone(), "app");
    pods.create(&PostParams::default(), &pod("web", "nginx"))
        .await
        .expect("pod");
    eventually("pod runs", WAIT, || running_bound(&t.client, "app", "web")).await;
    let ssecrets: Api<Secret> = Api::namespaced(sc.clone(), &t.super_ns("app"));
    let token_before = ssecrets.get_opt("vc-sa-token-default").await.expect("get");

    let secrets: Api<Secret> = Api::namespaced(t.client.clone(), "app");
    let fake = Secret {
        metadata: ObjectMeta {
            name: Some("vc-sa-token-default".into()),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([("token".into(), "forged".into())])),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &fake)
        .await
        .expect("tenant accepts the secret");
    refusal(&t.client, "app", "vc-sa-token-default", "reserved").await;
    let token_after = ssecrets.get_opt("vc-sa-token-default").await.expect("get");
    assert_eq!(
        token_before.map(|s| s.metadata.uid),
        token_after.clone().map(|s| s.metadata.uid),
        "the syncer's token secret is untouched"
    );
    if let Some(s) = token_after {
        assert!(
            !s.data
                .unwrap_or_default()
                .values()
                .any(|v| v.0 == b"forged"),
            "the tenant's data never replaces the token"
        );
    }

    // Two long namespaces that shorten to the same super name: the second is refused at once,
    // and nothing of it lands in the first one's super namespace.
    let (first, second) = colliding_namespaces(&t.key);
    tenant_ns(&t.client, &first).await;
    let super_name = t.super_ns(&first);
    let sns: Api<Namespace> = Api::all(sc.clone());
    let synced = eventually("first long namespace synced", WAIT, || async {
        sns.get_opt(&super_name).await.ok()?
    })
    .await;
    tenant_ns(&t.client, &second).await;
    let spod_api: Api<Pod> = Api::namespaced(t.client.clone(), &second);
    spod_api
        .create(&PostParams::default(), &pod("intruder", "busybox"))
        .await
        .expect("pod in the second namespace");
    let ev = eventually("namespace collision reported", WAIT, || async {
        let evs: Api<Event> = Api::namespaced(t.client.clone(), &second);
        let list = evs.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.involved_object.kind.as_deref() == Some("Namespace"))
    })
    .await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    refusal(&t.client, &second, "intruder", "another namespace").await;
    let now = sns.get(&super_name).await.expect("super ns");
    assert_eq!(now.metadata.uid, synced.metadata.uid, "not replaced");
    assert_eq!(
        now.metadata
            .annotations
            .unwrap_or_default()
            .get(tenancy::ANNOTATION_NAMESPACE),
        Some(&first)
    );
    let spods: Api<Pod> = Api::namespaced(sc.clone(), &super_name);
    assert!(spods.get_opt("intruder").await.expect("get").is_none());
    syncer.shutdown().await.expect("shutdown");
    kubelet.cancel();
}
