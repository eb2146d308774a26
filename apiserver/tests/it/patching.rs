//! Strategic merge patch and server-side apply from kube-rs (`kube::api::Patch`).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::harness::server;

fn deployment() -> Deployment {
    serde_json::from_value(json!({"metadata": {"name": "d"}, "spec": {"replicas": 1,
        "selector": {"matchLabels": {"app": "d"}},
        "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}]}}}}))
    .unwrap()
}

#[tokio::test]
async fn strategic_merge_patch_merges_lists_by_key() {
    let srv = server().await;
    let deps: Api<Deployment> = Api::namespaced(srv.client(), "default");
    deps.create(&PostParams::default(), &deployment())
        .await
        .unwrap();
    // Containers merge by name: only `b` changes, `a` keeps its env.
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}});
    let d = deps
        .patch("d", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let cs = d.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[0].image.as_deref(), Some("a:1"));
    assert_eq!(cs[0].env.as_ref().unwrap()[0].value.as_deref(), Some("1"));
    assert_eq!(cs[1].image.as_deref(), Some("b:2"));
    // `$patch: delete` removes one item by its key.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}});
    let d = deps
        .patch("d", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let cs = d.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(
        cs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        vec!["b"]
    );
}

#[tokio::test]
async fn server_side_apply_tracks_owners_and_conflicts() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let cfg = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": v}});
    let alice = PatchParams::apply("alice");
    let created = cms
        .patch("ssa", &alice, &Patch::Apply(cfg("1")))
        .await
        .unwrap();
    let managers: Vec<String> = created
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, vec!["alice".to_string()]);
    match cms
        .patch("ssa", &PatchParams::apply("bob"), &Patch::Apply(cfg("2")))
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert!(
                s.message.contains("conflict with \"alice\""),
                "{}",
                s.message
            );
        }
        e => panic!("{e:?}"),
    }
    let forced = cms
        .patch(
            "ssa",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(cfg("2")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["k"], "2");
    // Alice no longer applying `k` leaves it with bob.
    let gone = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "labels": {"by": "alice"}}});
    let after = cms.patch("ssa", &alice, &Patch::Apply(gone)).await.unwrap();
    assert_eq!(after.data.unwrap()["k"], "2");
    // An update records an Update manager.
    let updated = cms
        .patch(
            "ssa",
            &PatchParams {
                field_manager: Some("carol".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"other": "x"}})),
        )
        .await
        .unwrap();
    let mf = updated.metadata.managed_fields.unwrap();
    assert!(
        mf.iter()
            .any(|m| m.manager.as_deref() == Some("carol")
                && m.operation.as_deref() == Some("Update"))
    );
    assert!(
        mf.iter()
            .all(|m| m.fields_type.as_deref() == Some("FieldsV1"))
    );
}
