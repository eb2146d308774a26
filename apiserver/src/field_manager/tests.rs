use serde_json::{Value, json};

use super::*;
use crate::schema::{Gvk, SchemaIndex, TypeRef};

fn deploy_ty() -> TypeRef<'static> {
    SchemaIndex::builtin()
        .unwrap()
        .type_for_gvk(&Gvk::new("apps", "v1", "Deployment"))
        .unwrap()
}

fn writer(manager: &str) -> Writer<'_> {
    Writer {
        manager,
        api_version: "apps/v1",
        subresource: None,
        reset_fields: &["status"],
        now: "2024-05-01T12:00:00Z".parse().unwrap(),
    }
}

fn config(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": image,
                                                       "ports": [{"containerPort": 80}]}]}}}
    })
}

fn entries(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"].as_array().unwrap().clone()
}

#[test]
fn apply_creates_with_upstream_fields_v1() {
    let out = apply(
        None,
        &config(2, "nginx:1"),
        &deploy_ty(),
        &writer("kubectl"),
        false,
    )
    .unwrap();
    let mf = entries(&out);
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0]["manager"], "kubectl");
    assert_eq!(mf[0]["operation"], "Apply");
    assert_eq!(mf[0]["apiVersion"], "apps/v1");
    assert_eq!(mf[0]["time"], "2024-05-01T12:00:00Z");
    assert_eq!(mf[0]["fieldsType"], "FieldsV1");
    assert_eq!(
        mf[0]["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {}, "f:containerPort": {}}}
                    }}}
                }
            }
        })
    );
    assert_eq!(out["spec"]["replicas"], 2);
}

#[test]
fn conflicts_force_and_shared_ownership() {
    let ty = deploy_ty();
    let first = apply(None, &config(2, "nginx:1"), &ty, &writer("alice"), false).unwrap();
    // Same value: no conflict, shared.
    let bob_config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "web"}, "spec": {"replicas": 2}});
    let shared = apply(Some(&first), &bob_config, &ty, &writer("bob"), false).unwrap();
    assert_eq!(entries(&shared).len(), 2);
    // Different value: 409.
    let bob_config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "web"}, "spec": {"replicas": 5}});
    let err = apply(Some(&first), &bob_config, &ty, &writer("bob"), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
    );
    let status = err.status();
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(status.causes[0].reason, "FieldManagerConflict");
    assert_eq!(status.causes[0].message, "conflict with \"alice\"");
    assert_eq!(status.causes[0].field, ".spec.replicas");
    // Force: bob takes replicas over.
    let forced = apply(Some(&first), &bob_config, &ty, &writer("bob"), true).unwrap();
    assert_eq!(forced["spec"]["replicas"], 5);
    let alice = entries(&forced)
        .into_iter()
        .find(|e| e["manager"] == "alice")
        .unwrap();
    assert!(alice["fieldsV1"]["f:spec"].get("f:replicas").is_none());
    let bob = entries(&forced)
        .into_iter()
        .find(|e| e["manager"] == "bob")
        .unwrap();
    assert_eq!(bob["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
}

#[test]
fn dropped_fields_are_removed_unless_owned_elsewhere() {
    let ty = deploy_ty();
    let mut with_extra = config(2, "nginx:1");
    with_extra["metadata"]["labels"]["tier"] = json!("fe");
    with_extra["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "busybox"}));
    let first = apply(None, &with_extra, &ty, &writer("alice"), false).unwrap();
    let second = apply(
        Some(&first),
        &config(2, "nginx:1"),
        &ty,
        &writer("alice"),
        false,
    )
    .unwrap();
    assert!(second["metadata"]["labels"].get("tier").is_none());
    assert_eq!(
        second["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A label also owned by bob stays when alice stops applying it.
    let bob = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": {"name": "web", "labels": {"tier": "fe"}}});
    let shared = apply(Some(&first), &bob, &ty, &writer("bob"), false).unwrap();
    let third = apply(
        Some(&shared),
        &config(2, "nginx:1"),
        &ty,
        &writer("alice"),
        false,
    )
    .unwrap();
    assert_eq!(third["metadata"]["labels"]["tier"], "fe");
}

#[test]
fn update_managers_and_conflicts_with_them() {
    let ty = deploy_ty();
    let mut created = config(1, "nginx:1");
    update_managed_fields(None, &mut created, &ty, &writer("kubectl-create")).unwrap();
    let mf = entries(&created);
    assert_eq!(mf[0]["operation"], "Update");
    // Maps added as a whole are owned themselves ("."), structs are not.
    assert_eq!(
        mf[0]["fieldsV1"]["f:metadata"],
        json!({"f:labels": {".": {}, "f:app": {}}})
    );
    assert!(mf[0]["fieldsV1"]["f:spec"].get(".").is_none());

    let mut edited = created.clone();
    edited["spec"]["replicas"] = json!(3);
    update_managed_fields(Some(&created), &mut edited, &ty, &writer("kubectl-edit")).unwrap();
    let edit = entries(&edited)
        .into_iter()
        .find(|e| e["manager"] == "kubectl-edit")
        .unwrap();
    assert_eq!(edit["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
    let create = entries(&edited)
        .into_iter()
        .find(|e| e["manager"] == "kubectl-create")
        .unwrap();
    assert!(create["fieldsV1"]["f:spec"].get("f:replicas").is_none());

    let err = apply(
        Some(&edited),
        &config(5, "nginx:1"),
        &ty,
        &writer("kubectl"),
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
    );
    let err = apply(
        Some(&edited),
        &config(5, "nginx:2"),
        &ty,
        &writer("kubectl"),
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"kubectl-create\" using apps/v1:\n\
         - .spec.template.spec.containers[name=\"nginx\"].image\n\
         conflicts with \"kubectl-edit\" using apps/v1:\n- .spec.replicas"
    );
}

#[test]
fn first_apply_on_unmanaged_object_conflicts_with_before_first_apply() {
    let ty = deploy_ty();
    let live = config(1, "nginx:1");
    let err = apply(
        Some(&live),
        &config(2, "nginx:1"),
        &ty,
        &writer("kubectl"),
        false,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("\"before-first-apply\" using apps/v1")
    );
}

#[test]
fn fields_v1_round_trip_and_paths() {
    let encoded = json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:finalizers": {"v:\"x\"": {}}},
        "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}}
    });
    let set = from_fields_v1(&encoded).unwrap();
    assert_eq!(to_fields_v1(&set), encoded);
    let strings: Vec<String> = set.iter().map(|p| path_string(p)).collect();
    assert!(strings.contains(&".spec.ports[port=80,protocol=\"TCP\"].port".to_owned()));
    assert!(strings.contains(&".metadata.finalizers[=\"x\"]".to_owned()));
    assert!(from_fields_v1(&json!({"x:bad": {}})).is_err());
}
