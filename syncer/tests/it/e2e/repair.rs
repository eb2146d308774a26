//! Refusals with events, drift repair, public objects, virtual-node GC and leader election.

use std::collections::BTreeMap;
use std::time::Duration;

use crds::tenancy;
use crds::{PodPolicy, VirtualClusterSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};

use super::*;
use crate::harness::*;
use syncer::SyncerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_name_and_policy_violations_are_refused_with_events() {
    common::process::install_crypto_provider();
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a"]).await;
    let t = add_tenant(
        &sc,
        "strict",
        VirtualClusterSpec {
            pod_policy: Some(PodPolicy::default()),
            ..spec()
        },
    )
    .await;
    let syncer = start_syncer(&sc, syncer_config()).await;
    tenant_ns(&t.client, "app").await;
    let pods: Api<Pod> = Api::namespaced(t.client.clone(), "app");
    let mut pinned = pod("pinned", "busybox");
    if let Some(s) = pinned.spec.as_mut() {
        s.node_name = Some("node-a".into());
    }
    pods.create(&PostParams::default(), &pinned)
        .await
        .expect("pinned pod");
    let mut host = pod("host", "busybox");
    if let Some(s) = host.spec.as_mut() {
        s.host_network = Some(true);
    }
    pods.create(&PostParams::default(), &host)
        .await
        .expect("hostNetwork pod");
    pods.create(&PostParams::default(), &pod("fine", "busybox"))
        .await
        .expect("fine pod");

    // The acceptable pod proves the tenant is synced before we check for absence.
    eventually("acceptable pod runs", WAIT, || {
        running_bound(&t.client, "app", "fine")
    })
    .await;
    let ev = eventually("NotSupported event for spec.nodeName", WAIT, || async {
        let evs = warning_events(&t.client, "app", "pinned").await;
        evs.into_iter()
            .find(|e| e.reason.as_deref() == Some("NotSupported"))
    })
    .await;
    assert!(ev.message.unwrap_or_default().contains("nodeName"));
    let ev = eventually("PolicyViolation event for hostNetwork", WAIT, || async {
        let evs = warning_events(&t.client, "app", "host").await;
        evs.into_iter()
            .find(|e| e.reason.as_deref() == Some("PolicyViolation"))
    })
    .await;
    assert!(ev.message.unwrap_or_default().contains("allowHostNetwork"));
    let spods: Api<Pod> = Api::namespaced(sc.clone(), &t.super_ns("app"));
    assert!(spods.get_opt("pinned").await.expect("get").is_none());
    assert!(spods.get_opt("host").await.expect("get").is_none());
    syncer.shutdown().await.expect("shutdown");
    kubelet.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drift_repair_public_objects_vnode_gc_and_leader_election() {
    use k8s_openapi::api::storage::v1::StorageClass;
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a"]).await;
    let t = add_tenant(&sc, "solo", spec()).await;

    // Two replicas with leader election: exactly one syncs.
    let ns: Api<Namespace> = Api::all(sc.clone());
    ns.create(
        &PostParams::default(),
        &namespace("vc-manager", BTreeMap::new()),
    )
    .await
    .expect("lease namespace");
    let elected = |gc: u64| SyncerConfig {
        leader_election: true,
        leader_election_namespace: Some("vc-manager".into()),
        vnode_gc_grace_secs: gc,
        vnodes_before_pods: 0,
        ..syncer_config()
    };
    let a = start_syncer(&sc, elected(2)).await;
    let b = start_syncer(&sc, elected(2)).await;
    eventually("one replica leads", WAIT, || async {
        (a.context().is_some() || b.context().is_some()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        a.context().is_some() != b.context().is_some(),
        "exactly one replica syncs"
    );

    tenant_ns(&t.client, "app").await;
    let cms: Api<ConfigMap> = Api::namespaced(t.client.clone(), "app");
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("settings".into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("mode".into(), "v1".into())])),
        ..ConfigMap::default()
    };
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("configmap");
    let pcms: Api<ConfigMap> = Api::namespaced(sc.clone(), &t.super_ns("app"));
    eventually("configmap synced", WAIT, || async {
        pcms.get_opt("settings").await.ok()?
    })
    .await;

    // Someone edits the super copy: it is put back. Someone deletes it: it is recreated.
    pcms.patch(
        "settings",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"mode": "hacked"}})),
    )
    .await
    .expect("edit super copy");
    eventually("drift repaired", WAIT, || async {
        let c = pcms.get_opt("settings").await.ok()??;
        (c.data?.get("mode")? == "v1").then_some(())
    })
    .await;
    pcms.delete("settings", &DeleteParams::default())
        .await
        .expect("delete super copy");
    eventually("missing copy recreated", WAIT, || async {
        pcms.get_opt("settings").await.ok()?
    })
    .await;
    // An orphan in a synced namespace is removed.
    let mut orphan = pcms.get("settings").await.expect("copy");
    orphan.metadata = ObjectMeta {
        name: Some("orphan".into()),
        labels: orphan.metadata.labels.clone(),
        annotations: orphan.metadata.annotations.clone().map(|mut a| {
            a.insert(tenancy::ANNOTATION_UID.into(), "gone".into());
            a
        }),
        ..ObjectMeta::default()
    };
    pcms.create(&PostParams::default(), &orphan)
        .await
        .expect("orphan");
    eventually("orphan removed", WAIT, || async {
        pcms.get_opt("orphan").await.ok()?.is_none().then_some(())
    })
    .await;

    // Public super objects reach the tenant.
    let scs: Api<StorageClass> = Api::all(sc.clone());
    let class = StorageClass {
        metadata: ObjectMeta {
            name: Some("fast".into()),
            labels: Some(BTreeMap::from([(
                tenancy::LABEL_SUPER_PUBLIC.into(),
                "true".into(),
            )])),
            ..ObjectMeta::default()
        },
        provisioner: "csi.example.com".into(),
        ..StorageClass::default()
    };
    scs.create(&PostParams::default(), &class)
        .await
        .expect("storage class");
    let tscs: Api<StorageClass> = Api::all(t.client.clone());
    let copy = eventually("public storage class broadcast", WAIT, || async {
        tscs.get_opt("fast").await.ok()?
    })
    .await;
    assert_eq!(copy.provisioner, "csi.example.com");

    // A virtual node without tenant pods goes after the grace period.
    let pods: Api<Pod> = Api::namespaced(t.client.clone(), "app");
    pods.create(&PostParams::default(), &pod("once", "busybox"))
        .await
        .expect("pod");
    eventually("pod runs", WAIT, || running_bound(&t.client, "app", "once")).await;
    let vnodes: Api<Node> = Api::all(t.client.clone());
    assert!(vnodes.get_opt("node-a").await.expect("get").is_some());
    pods.delete("once", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("idle virtual node removed", WAIT, || async {
        vnodes.get_opt("node-a").await.ok()?.is_none().then_some(())
    })
    .await;

    a.shutdown().await.expect("shutdown a");
    b.shutdown().await.expect("shutdown b");
    kubelet.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fresh_tenants_see_ready_nodes_their_placement_allows() {
    common::process::install_crypto_provider();
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a", "node-b", "node-c"]).await;
    let pinned = add_tenant(
        &sc,
        "pinned",
        VirtualClusterSpec {
            placement: Some(crds::Placement {
                node_selector: BTreeMap::from([(
                    "kubernetes.io/hostname".to_string(),
                    "node-b".to_string(),
                )]),
                ..crds::Placement::default()
            }),
            ..spec()
        },
    )
    .await;
    let open = add_tenant(&sc, "open", spec()).await;
    let syncer = start_syncer(&sc, syncer_config()).await;

    let ready_nodes = |client: kube::Client| async move {
        let nodes: Api<Node> = Api::all(client);
        let list = nodes.list(&Default::default()).await.ok()?;
        let mut names: Vec<String> = list
            .items
            .iter()
            .filter(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        names.sort();
        Some(names)
    };
    eventually("the pinned tenant sees exactly its node", WAIT, || async {
        let names = ready_nodes(pinned.client.clone()).await?;
        (names == vec!["node-b".to_string()]).then_some(())
    })
    .await;
    eventually("the open tenant sees two ready nodes", WAIT, || async {
        let names = ready_nodes(open.client.clone()).await?;
        (names.len() == 2).then_some(())
    })
    .await;
    syncer.shutdown().await.expect("shutdown");
    kubelet.cancel();
}
