//! Three tenants whose namespaces and pod names collide, synced both ways.

use std::collections::{BTreeMap, BTreeSet};

use crds::VirtualCluster;
use crds::tenancy;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, Node, Pod, Secret, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};

use super::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn colliding_tenants_sync_both_ways() {
    common::process::install_crypto_provider();
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a", "node-b"]).await;
    let tenants = three_tenants(&sc).await;
    let syncer = start_syncer(&sc, syncer_config()).await;

    // The same namespace, pod, service, secret and configmap names in every tenant.
    for t in &tenants {
        tenant_ns(&t.client, "app").await;
        let pods: Api<Pod> = Api::namespaced(t.client.clone(), "app");
        pods.create(
            &PostParams::default(),
            &pod("web", &format!("nginx:{}", t.name)),
        )
        .await
        .expect("tenant pod");
        let svc = Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                selector: Some(BTreeMap::from([("app".into(), "web".into())])),
                ports: Some(vec![ServicePort {
                    port: 80,
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            status: None,
        };
        let svcs: Api<Service> = Api::namespaced(t.client.clone(), "app");
        svcs.create(&PostParams::default(), &svc)
            .await
            .expect("tenant service");
        let secrets: Api<Secret> = Api::namespaced(t.client.clone(), "app");
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some("creds".into()),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                "password".into(),
                ByteString(t.name.as_bytes().to_vec()),
            )])),
            ..Secret::default()
        };
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret");
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
    }

    // Pods run in every tenant, bound to virtual nodes, with their super pod's IP.
    let mut super_namespaces = BTreeSet::new();
    for t in &tenants {
        let vpod = eventually(&format!("{}: pod Running and bound", t.name), WAIT, || {
            running_bound(&t.client, "app", "web")
        })
        .await;
        let pns = t.super_ns("app");
        super_namespaces.insert(pns.clone());
        let spods: Api<Pod> = Api::namespaced(sc.clone(), &pns);
        let ppod = spods.get("web").await.expect("super pod");
        assert_eq!(
            ppod.annotations().get(tenancy::ANNOTATION_UID),
            vpod.metadata.uid.as_ref(),
            "super pod records the tenant pod uid"
        );
        assert_eq!(
            ppod.spec
                .as_ref()
                .and_then(|s| s.containers[0].image.clone()),
            Some(format!("nginx:{}", t.name))
        );
        let vstatus = vpod.status.clone().expect("status");
        let pstatus = ppod.status.clone().expect("super status");
        assert_eq!(
            vstatus.pod_ip, pstatus.pod_ip,
            "{}: pod IP copied up",
            t.name
        );
        let node = vpod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .expect("node");
        assert_eq!(
            Some(node.clone()),
            ppod.spec.as_ref().and_then(|s| s.node_name.clone())
        );
        // Projected service-account volumes become a secret with a token from the tenant.
        let token_volume = vpod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .and_then(|vs| {
                vs.iter()
                    .find(|v| v.name.starts_with("kube-api-access-"))
                    .map(|v| v.name.clone())
            });
        if let Some(vol) = token_volume {
            let pvol = ppod
                .spec
                .as_ref()
                .and_then(|s| s.volumes.as_ref())
                .and_then(|vs| vs.iter().find(|v| v.name == vol).cloned())
                .expect("token volume on the super pod");
            let secret_name = pvol
                .secret
                .and_then(|s| s.secret_name)
                .expect("secret volume");
            let psecrets: Api<Secret> = Api::namespaced(sc.clone(), &pns);
            let token = psecrets.get(&secret_name).await.expect("token secret");
            let data = token.data.unwrap_or_default();
            assert!(
                !data.get("token").map(|t| t.0.is_empty()).unwrap_or(true),
                "token issued"
            );
            assert_eq!(
                data.get("namespace").map(|n| n.0.clone()),
                Some(b"app".to_vec())
            );
        } else {
            println!(
                "{}: the tenant API server added no projected token volume",
                t.name
            );
        }
        let vnodes: Api<Node> = Api::all(t.client.clone());
        let vnode = vnodes.get(&node).await.expect("virtual node");
        assert_eq!(
            vnode
                .labels()
                .get(tenancy::LABEL_VIRTUAL_NODE)
                .map(String::as_str),
            Some("true")
        );
        let port = vnode
            .status
            .as_ref()
            .and_then(|s| s.daemon_endpoints.as_ref())
            .and_then(|d| d.kubelet_endpoint.as_ref())
            .map(|k| k.port);
        assert_eq!(port, Some(10550), "virtual node points at vn-agent");

        // Services get the super clusterIP back.
        let svcs: Api<Service> = Api::namespaced(t.client.clone(), "app");
        let psvcs: Api<Service> = Api::namespaced(sc.clone(), &pns);
        let vsvc = eventually(
            &format!("{}: service IP back-populated", t.name),
            WAIT,
            || async {
                let s = svcs.get("web").await.ok()?;
                s.annotations()
                    .contains_key(tenancy::ANNOTATION_SUPER_CLUSTER_IP)
                    .then_some(s)
            },
        )
        .await;
        let psvc = psvcs.get("web").await.expect("super service");
        assert_eq!(
            vsvc.annotations().get(tenancy::ANNOTATION_SUPER_CLUSTER_IP),
            psvc.spec.as_ref().and_then(|s| s.cluster_ip.as_ref()),
        );
        assert_eq!(
            psvc.annotations().get(tenancy::ANNOTATION_CLUSTER_IP),
            vsvc.spec.as_ref().and_then(|s| s.cluster_ip.as_ref()),
            "tenant clusterIP kept on the super service"
        );
    }
    assert_eq!(super_namespaces.len(), 3, "colliding namespaces map apart");

    // Secret and configmap updates propagate.
    for t in &tenants {
        let cms: Api<ConfigMap> = Api::namespaced(t.client.clone(), "app");
        cms.patch(
            "settings",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"mode": "v2"}})),
        )
        .await
        .expect("update configmap");
        let secrets: Api<Secret> = Api::namespaced(t.client.clone(), "app");
        secrets
            .patch(
                "creds",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"stringData": {"password": "rotated"}})),
            )
            .await
            .expect("update secret");
    }
    for t in &tenants {
        let pns = t.super_ns("app");
        let pcms: Api<ConfigMap> = Api::namespaced(sc.clone(), &pns);
        let psecrets: Api<Secret> = Api::namespaced(sc.clone(), &pns);
        eventually(&format!("{}: configmap update", t.name), WAIT, || async {
            let cm = pcms.get("settings").await.ok()?;
            (cm.data?.get("mode")? == "v2").then_some(())
        })
        .await;
        eventually(&format!("{}: secret update", t.name), WAIT, || async {
            let s = psecrets.get("creds").await.ok()?;
            (s.data?.get("password")?.0 == b"rotated").then_some(())
        })
        .await;
    }

    // Delete downward: a tenant pod deleted → its super pod goes.
    let t0 = &tenants[0];
    let vpods: Api<Pod> = Api::namespaced(t0.client.clone(), "app");
    vpods
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete tenant pod");
    let spods0: Api<Pod> = Api::namespaced(sc.clone(), &t0.super_ns("app"));
    eventually(
        "tenant pod deletion reaches the super cluster",
        WAIT,
        || async { spods0.get_opt("web").await.ok()?.is_none().then_some(()) },
    )
    .await;
    eventually("tenant pod gone after graceful deletion", WAIT, || async {
        vpods.get_opt("web").await.ok()?.is_none().then_some(())
    })
    .await;

    // Delete upward: a super pod deleted → the tenant pod goes.
    let t1 = &tenants[1];
    let spods1: Api<Pod> = Api::namespaced(sc.clone(), &t1.super_ns("app"));
    spods1
        .delete(
            "web",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        )
        .await
        .expect("delete super pod");
    let vpods1: Api<Pod> = Api::namespaced(t1.client.clone(), "app");
    eventually("super pod deletion reaches the tenant", WAIT, || async {
        vpods1.get_opt("web").await.ok()?.is_none().then_some(())
    })
    .await;

    // Namespace deletion cleans the super namespace.
    let t2 = &tenants[2];
    let vns: Api<Namespace> = Api::all(t2.client.clone());
    vns.delete("app", &DeleteParams::default())
        .await
        .expect("delete tenant namespace");
    let sns: Api<Namespace> = Api::all(sc.clone());
    let pns2 = t2.super_ns("app");
    eventually(
        "tenant namespace deletion removes the super namespace",
        WAIT,
        || async {
            match sns.get_opt(&pns2).await.ok()? {
                None => Some(()),
                Some(ns) => ns.metadata.deletion_timestamp.is_some().then_some(()),
            }
        },
    )
    .await;

    // VC deletion removes every super namespace of that tenant and nothing else.
    let vcs: Api<VirtualCluster> = Api::namespaced(sc.clone(), VC_NAMESPACE);
    vcs.delete(&t0.name, &DeleteParams::default())
        .await
        .expect("delete VC");
    eventually("VC deletion removes its super namespaces", WAIT, || async {
        let all = sns.list(&ListParams::default()).await.ok()?;
        let left = all.items.iter().filter(|ns| {
            tenancy::owned_by(&ns.annotations().clone(), &t0.key)
                && ns.annotations().contains_key(tenancy::ANNOTATION_NAMESPACE)
                && ns.metadata.deletion_timestamp.is_none()
        });
        (left.count() == 0).then_some(())
    })
    .await;
    assert!(
        sns.get_opt(&t1.super_ns("app"))
            .await
            .expect("get")
            .is_some(),
        "other tenants keep their namespaces"
    );

    let metrics = reqwest_text(&format!("http://{}/metrics", syncer.ops_addr())).await;
    assert!(metrics.contains("syncer_operations_total"), "{metrics}");
    assert!(metrics.contains("syncer_queue_wait_seconds"), "{metrics}");
    syncer.shutdown().await.expect("syncer shutdown");
    kubelet.cancel();
}
