//! CustomResourceDefinitions: create → established → served → validated/pruned → deleted.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use crate::harness::{eventually, raw, server};

fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wd"]},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "subresources": {"status": {}},
                 "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["size"], "properties": {
                        "size": {"type": "integer", "minimum": 1},
                        "color": {"type": "string", "enum": ["red", "blue"], "default": "red"}}},
                    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}},
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}
            ]
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn crd_lifecycle() {
    let srv = server().await;
    let crds: Api<CustomResourceDefinition> = Api::all(srv.client());
    crds.create(&PostParams::default(), &widget_crd())
        .await
        .unwrap();
    let crd = crds.get("widgets.example.com").await.unwrap();
    let conds = crd.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    let r = raw(&srv);
    let (code, groups) = r
        .send(http::Method::GET, "/apis", "application/json", vec![])
        .await;
    assert_eq!(code, 200);
    let g = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "example.com")
        .expect("group served")
        .clone();
    assert_eq!(g["preferredVersion"]["version"], "v1");
    let (_, list) = r
        .send(
            http::Method::GET,
            "/apis/example.com/v1",
            "application/json",
            vec![],
        )
        .await;
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["widgets", "widgets/status"]);

    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"));
    let widgets: Api<DynamicObject> = Api::namespaced_with(srv.client(), "default", &ar);
    let w: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 3, "junk": true}, "status": {"ready": true}}))
        .unwrap();
    let created = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(
        created.data["spec"],
        json!({"size": 3, "color": "red"}),
        "pruned and defaulted"
    );
    assert!(
        created.data.get("status").is_none(),
        "status subresource: create drops status"
    );
    let bad: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w2"}, "spec": {"size": 0, "color": "green"}}))
        .unwrap();
    match widgets
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422);
            assert!(s.message.contains("spec.size"), "{}", s.message);
            assert!(s.message.contains("spec.color"), "{}", s.message);
        }
        e => panic!("{e:?}"),
    }
    let st = widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}, "spec": {"size": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["ready"], true);
    assert_eq!(st.data["spec"]["size"], 3);
    // The other served version sees the same object.
    let ar_beta = ApiResource::from_gvk(&GroupVersionKind::gvk("example.com", "v1beta1", "Widget"));
    let beta: Api<DynamicObject> = Api::namespaced_with(srv.client(), "default", &ar_beta);
    let via_beta = beta.get("w1").await.unwrap();
    assert_eq!(via_beta.types.unwrap().api_version, "example.com/v1beta1");

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, || async {
        crds.get_opt("widgets.example.com")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let (code, _) = r
        .send(
            http::Method::GET,
            "/apis/example.com/v1",
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(code, 404, "the group disappears with its CRD");
}

#[tokio::test]
async fn invalid_crds_are_rejected() {
    let srv = server().await;
    let crds: Api<CustomResourceDefinition> = Api::all(srv.client());
    let mut bad = widget_crd();
    bad.metadata.name = Some("wrong.example.com".into());
    match crds.create(&PostParams::default(), &bad).await.unwrap_err() {
        kube::Error::Api(s) => assert_eq!(s.code, 422, "{}", s.message),
        e => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn project_crds_are_accepted() {
    let srv = server().await;
    let crds: Api<CustomResourceDefinition> = Api::all(srv.client());
    for (_, yaml) in crds::crdgen::rendered_crds().unwrap() {
        let crd: CustomResourceDefinition = serde_yaml::from_str(&yaml).unwrap();
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    let vcs: Api<crds::VirtualCluster> = Api::namespaced(srv.client(), "default");
    let vc = crds::VirtualCluster::new(
        "demo",
        crds::VirtualClusterSpec {
            cluster_version_name: "cv".into(),
            ..Default::default()
        },
    );
    let created = vcs.create(&PostParams::default(), &vc).await.unwrap();
    assert_eq!(created.spec.cluster_version_name, "cv");
}
