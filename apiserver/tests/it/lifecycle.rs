//! Object lifecycle: finalizers, graceful deletion, namespace lifecycle, garbage collection.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::harness::{eventually, server};

pub fn pod(name: &str, labels: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}]}})).unwrap()
}

async fn bind(pods: &Api<Pod>, name: &str, node: &str) {
    let body = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("/api/v1/namespaces/default/pods/{name}/binding"))
        .header("content-type", "application/json")
        .body(kube::client::Body::from(body.to_string().into_bytes()))
        .unwrap();
    let client: kube::Client = pods.clone().into_client();
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}

#[tokio::test]
async fn finalizers_hold_objects_until_removed() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let c: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "f", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &c).await.unwrap();
    cms.delete("f", &DeleteParams::default()).await.unwrap();
    let held = cms.get("f").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    let e = cms
        .patch(
            "f",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}}),
            ),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, kube::Error::Api(s) if s.code == 422),
        "no new finalizers while deleting"
    );
    cms.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("f").await.unwrap().is_none());
}

#[tokio::test]
async fn bound_pods_are_deleted_gracefully() {
    let srv = server().await;
    let pods: Api<Pod> = Api::namespaced(srv.client(), "default");
    pods.create(&PostParams::default(), &pod("g", json!({})))
        .await
        .unwrap();
    bind(&pods, "g", "node-1").await;
    let bound = pods.get("g").await.unwrap();
    assert_eq!(bound.spec.unwrap().node_name.as_deref(), Some("node-1"));
    let conds = bound.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True")
    );
    pods.delete("g", &DeleteParams::default()).await.unwrap();
    let terminating = pods.get("g").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
    // The kubelet finishes with grace 0.
    pods.delete(
        "g",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(pods.get_opt("g").await.unwrap().is_none());
    // Unbound pods go at once.
    pods.create(&PostParams::default(), &pod("u", json!({})))
        .await
        .unwrap();
    pods.delete("u", &DeleteParams::default()).await.unwrap();
    assert!(pods.get_opt("u").await.unwrap().is_none());
    // A second binding is a conflict.
    pods.create(&PostParams::default(), &pod("b", json!({})))
        .await
        .unwrap();
    bind(&pods, "b", "node-1").await;
    let body = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"}, "target": {"kind": "Node", "name": "node-2"}});
    let (code, s) = crate::harness::raw(&srv)
        .send(
            http::Method::POST,
            "/api/v1/namespaces/default/pods/b/binding",
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(code, 409, "{s}");
}

#[tokio::test]
async fn namespace_deletion_removes_content_then_the_namespace() {
    let srv = server().await;
    let nss: Api<Namespace> = Api::all(srv.client());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "gone"}})).unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "gone");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
    )
    .await
    .unwrap();
    nss.delete("gone", &DeleteParams::default()).await.unwrap();
    eventually(10, || async {
        nss.get_opt("gone").await.unwrap().is_none().then_some(())
    })
    .await;
    let leftovers = Api::<ConfigMap>::all(srv.client())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| c.metadata.namespace.as_deref() == Some("gone"))
        .count();
    assert_eq!(leftovers, 0);
}

#[tokio::test]
async fn terminating_namespaces_refuse_new_content() {
    let srv = server().await;
    let nss: Api<Namespace> = Api::all(srv.client());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    nss.delete("held", &DeleteParams::default()).await.unwrap();
    let ns = nss.get("held").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "held");
    let e = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
        )
        .await
        .unwrap_err();
    match e {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403);
            assert!(
                s.message.contains("because it is being terminated"),
                "{}",
                s.message
            );
        }
        other => panic!("{other:?}"),
    }
}

fn owned_cm(name: &str, owner: &ConfigMap, block: bool) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name, "uid": owner.metadata.uid, "blockOwnerDeletion": block}]}})).unwrap()
}

#[tokio::test]
async fn garbage_collection_background_foreground_orphan() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let mk = |n: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n}})).unwrap()
    };
    // Background: the owner goes at once, dependents follow.
    let owner = cms
        .create(&PostParams::default(), &mk("owner-bg"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &owned_cm("dep-bg", &owner, false))
        .await
        .unwrap();
    cms.delete("owner-bg", &DeleteParams::background())
        .await
        .unwrap();
    eventually(10, || async {
        cms.get_opt("dep-bg").await.unwrap().is_none().then_some(())
    })
    .await;
    // Foreground: the owner waits for blocking dependents.
    let owner = cms
        .create(&PostParams::default(), &mk("owner-fg"))
        .await
        .unwrap();
    let dep: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dep-fg", "finalizers": ["example.com/slow"], "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner-fg", "uid": owner.metadata.uid, "blockOwnerDeletion": true}]}})).unwrap();
    cms.create(&PostParams::default(), &dep).await.unwrap();
    cms.delete("owner-fg", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually(10, || async {
        cms.get_opt("dep-fg")
            .await
            .unwrap()
            .and_then(|d| d.metadata.deletion_timestamp)
            .map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        cms.get_opt("owner-fg").await.unwrap().is_some(),
        "owner waits for its blocking dependent"
    );
    cms.patch(
        "dep-fg",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually(10, || async {
        cms.get_opt("owner-fg")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    // Orphan: dependents lose the reference and stay.
    let owner = cms
        .create(&PostParams::default(), &mk("owner-or"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &owned_cm("dep-or", &owner, true))
        .await
        .unwrap();
    cms.delete("owner-or", &DeleteParams::orphan())
        .await
        .unwrap();
    eventually(10, || async {
        cms.get_opt("owner-or")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let dep = cms.get("dep-or").await.unwrap();
    assert!(dep.metadata.owner_references.unwrap_or_default().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circle_of_blocking_owners_is_deleted_in_the_foreground() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let mk = |n: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n}})).unwrap()
    };
    let c1 = cms.create(&PostParams::default(), &mk("c1")).await.unwrap();
    let c2 = cms
        .create(&PostParams::default(), &owned_cm("c2", &c1, true))
        .await
        .unwrap();
    let c3 = cms
        .create(&PostParams::default(), &owned_cm("c3", &c2, true))
        .await
        .unwrap();
    let close: ConfigMap = owned_cm("c1", &c3, true);
    cms.patch(
        "c1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"ownerReferences": close.metadata.owner_references}})),
    )
    .await
    .unwrap();
    crate::harness::Kubectl::new(&srv).ok(&[
        "delete",
        "configmap",
        "c1",
        "--cascade=foreground",
        "--wait=false",
    ]);
    eventually(20, || async {
        let left = cms.list(&ListParams::default()).await.unwrap();
        let names: Vec<String> = left
            .items
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        (!names
            .iter()
            .any(|n| ["c1", "c2", "c3"].contains(&n.as_str())))
        .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_deletion_spares_dependents_with_another_owner() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let mk = |n: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n}})).unwrap()
    };
    let going = cms
        .create(&PostParams::default(), &mk("going"))
        .await
        .unwrap();
    let staying = cms
        .create(&PostParams::default(), &mk("staying"))
        .await
        .unwrap();
    let mut shared = owned_cm("shared", &going, true);
    let also = owned_cm("x", &staying, true);
    shared
        .metadata
        .owner_references
        .get_or_insert_with(Vec::new)
        .extend(also.metadata.owner_references.unwrap_or_default());
    cms.create(&PostParams::default(), &shared).await.unwrap();
    cms.create(&PostParams::default(), &owned_cm("only", &going, true))
        .await
        .unwrap();
    crate::harness::Kubectl::new(&srv).ok(&[
        "delete",
        "configmap",
        "going",
        "--cascade=foreground",
        "--wait=false",
    ]);
    eventually(20, || async {
        (cms.get_opt("going").await.unwrap().is_none()
            && cms.get_opt("only").await.unwrap().is_none())
        .then_some(())
    })
    .await;
    let kept = cms.get("shared").await.unwrap();
    let owners: Vec<String> = kept
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(owners, vec!["staying".to_string()]);
    assert!(kept.metadata.deletion_timestamp.is_none());
}
