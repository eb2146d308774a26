use serde_json::{Value, json};

use super::*;
use crate::schema::{Gvk, SchemaIndex, TypeRef};

fn ty(group: &str, kind: &str) -> TypeRef<'static> {
    SchemaIndex::builtin()
        .unwrap()
        .type_for_gvk(&Gvk::new(group, "v1", kind))
        .unwrap()
}

fn smp(kind: (&str, &str), original: Value, patch: Value) -> Value {
    strategic_merge_patch(&original, &patch, &ty(kind.0, kind.1)).unwrap()
}

const DEPLOY: (&str, &str) = ("apps", "Deployment");
const POD: (&str, &str) = ("", "Pod");

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"spec": {
                "containers": [
                    {"name": "nginx", "image": "nginx:1.14",
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                     "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                    {"name": "sidecar", "image": "busybox"}
                ],
                "tolerations": [{"key": "a", "operator": "Exists"}],
                "volumes": [{"name": "data", "emptyDir": {}}]
            }}
        }
    })
}

#[test]
fn kubectl_apply_update_image_and_replicas() {
    // The three-way patch `kubectl apply` sends after editing image and replicas.
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"replicas": 3, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
            "containers": [{"image": "nginx:1.16", "name": "nginx"}]
        }}}
    });
    let out = smp(DEPLOY, deployment(), patch);
    assert_eq!(out["spec"]["replicas"], 3);
    let containers = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["name"], "nginx");
    assert_eq!(containers[0]["image"], "nginx:1.16");
    // Merged, not replaced: the other fields of the item and the other item stay.
    assert_eq!(containers[0]["env"][1]["name"], "B");
    assert_eq!(containers[1]["name"], "sidecar");
    assert_eq!(
        out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{}"
    );
    assert!(out.to_string().find("$setElementOrder").is_none());
}

#[test]
fn delete_list_item_and_reorder_with_directives() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "C"}, {"name": "A"}],
            "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "B"}],
            "name": "nginx"
        }]
    }}}});
    let out = smp(DEPLOY, deployment(), patch);
    let env = &out["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(
        env,
        &json!([{"name": "C", "value": "3"}, {"name": "A", "value": "1"}])
    );
}

#[test]
fn new_items_go_first_without_order_directive() {
    // Upstream places patch items before server-only ones when it has no order to follow.
    let patch = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "new", "image": "redis"}]
    }}}});
    let out = smp(DEPLOY, deployment(), patch);
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["new", "nginx", "sidecar"]);
}

#[test]
fn null_deletes_and_atomic_lists_replace() {
    let patch = json!({
        "metadata": {"labels": {"tier": null, "env": "prod"}},
        "spec": {"template": {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}}
    });
    let out = smp(DEPLOY, deployment(), patch);
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "env": "prod"})
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
}

#[test]
fn retain_keys_switches_strategy_and_volume_source() {
    // kubectl apply switching RollingUpdate → Recreate and emptyDir → configMap.
    let patch = json!({"spec": {
        "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
        "template": {"spec": {
            "$setElementOrder/volumes": [{"name": "data"}],
            "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cfg"},
                         "name": "data"}]
        }}
    }});
    let out = smp(DEPLOY, deployment(), patch);
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(
        out["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "data", "configMap": {"name": "cfg"}}])
    );
}

#[test]
fn retain_keys_rejects_unlisted_patch_keys() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate",
                                             "rollingUpdate": {"maxSurge": 1}}}});
    let err = strategic_merge_patch(&deployment(), &patch, &ty("apps", "Deployment")).unwrap_err();
    assert_eq!(err.status().code, 400);
    assert_eq!(err.to_string(), "invalid patch format of retainKeys");
}

#[test]
fn finalizers_merge_as_a_set() {
    let pod = json!({"metadata": {"name": "p", "finalizers": ["a", "b"]}});
    let out = smp(
        POD,
        pod.clone(),
        json!({"metadata": {"finalizers": ["c", "a"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
    let out = smp(
        POD,
        pod.clone(),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    let out = smp(
        POD,
        pod,
        json!({"metadata": {"$setElementOrder/finalizers": ["b", "a"], "finalizers": ["b"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b", "a"]));
}

#[test]
fn replace_and_delete_directives() {
    let patch = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]
    }}}});
    let out = smp(DEPLOY, deployment(), patch);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "only", "image": "x"}])
    );
    let patch = json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}});
    let out = smp(DEPLOY, deployment(), patch);
    assert_eq!(out["metadata"]["labels"], json!({"only": "this"}));
    let patch = json!({"spec": {"strategy": {"$patch": "delete"}}});
    let out = smp(DEPLOY, deployment(), patch);
    assert_eq!(out["spec"]["strategy"], json!({}));
    let err = strategic_merge_patch(
        &deployment(),
        &json!({"spec": {"strategy": {"$patch": "merge"}}}),
        &ty("apps", "Deployment"),
    )
    .unwrap_err();
    assert_eq!(err.status().code, 500);
    assert!(
        err.to_string()
            .starts_with("unknown patch type: merge in map:")
    );
}

#[test]
fn ports_merge_on_container_port() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "nginx", "ports": [{"containerPort": 80, "name": "http"},
                                    {"containerPort": 443}]}
    ]}}}});
    let out = smp(DEPLOY, deployment(), patch);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}])
    );
}

#[test]
fn conditions_merge_by_type() {
    let pod = json!({"status": {"conditions": [
        {"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}
    ]}});
    let out = smp(
        POD,
        pod,
        json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}])
    );
}

#[test]
fn missing_merge_key_is_an_internal_error_like_upstream() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
    let err = strategic_merge_patch(&deployment(), &patch, &ty("apps", "Deployment")).unwrap_err();
    assert_eq!(err.status().code, 500);
    assert_eq!(
        err.to_string(),
        "map: map[image:x] does not contain declared merge key: name"
    );
}

#[test]
fn set_element_order_mismatch_and_bad_directives() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{"name": "other", "image": "x"}]
    }}}});
    let err = strategic_merge_patch(&deployment(), &patch, &ty("apps", "Deployment")).unwrap_err();
    assert!(
        err.to_string()
            .contains("doesn't match $setElementOrder list")
    );
    let patch = json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}});
    let err = strategic_merge_patch(&deployment(), &patch, &ty("apps", "Deployment")).unwrap_err();
    assert_eq!(err.to_string(), "invalid patch format of primitive list");
    assert_eq!(err.status().code, 400);
}

#[test]
fn lists_of_lists_are_unprocessable() {
    let t = TypeRef::untyped();
    let orig = json!({"a": [[1]]});
    // Untyped lists are atomic: replaced without inspection.
    assert_eq!(
        strategic_merge_patch(&orig, &json!({"a": [[2]]}), &t).unwrap(),
        json!({"a": [[2]]})
    );
    let pod = json!({"metadata": {"finalizers": [["x"]]}});
    let err = strategic_merge_patch(
        &pod,
        &json!({"metadata": {"finalizers": [["y"]]}}),
        &ty("", "Pod"),
    )
    .unwrap_err();
    assert_eq!(err.status().code, 422);
}

#[test]
fn values_added_wholesale_lose_directives_and_nulls() {
    let pod = json!({"metadata": {"name": "p"}, "spec": {}});
    let patch = json!({"spec": {"containers": [
        {"name": "a", "image": "x", "env": [{"name": "E", "value": null}]},
        {"$patch": "delete", "name": "b"}
    ], "$setElementOrder/containers": [{"name": "a"}]}});
    let out = smp(POD, pod, patch);
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "a", "image": "x", "env": [{"name": "E"}]}, {"name": "b"}])
    );
}

#[test]
fn non_object_patch_is_bad_request() {
    let err =
        strategic_merge_patch(&deployment(), &json!([1]), &ty("apps", "Deployment")).unwrap_err();
    assert_eq!(err.status().code, 400);
    assert_eq!(
        err.to_string(),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
}

#[test]
fn json_merge_patch_as_kubectl_label_and_scale_send() {
    let label = json!({"metadata": {"labels": {"env": "prod", "tier": null}}});
    let out = json_merge_patch(&deployment(), &label).unwrap();
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "env": "prod"})
    );
    let out = json_merge_patch(&deployment(), &json!({"spec": {"replicas": 5}})).unwrap();
    assert_eq!(out["spec"]["replicas"], 5);
    // Lists are replaced whole.
    let out = json_merge_patch(
        &deployment(),
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "x"}]}}}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "x"}])
    );
    let err = json_merge_patch(&deployment(), &json!("x")).unwrap_err();
    assert_eq!(err.status().code, 400);
}

#[test]
fn json_patch_ops_and_failures() {
    let patch = json!([
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels/x", "value": "y"},
        {"op": "remove", "path": "/metadata/labels/tier"}
    ]);
    let out = json_patch(&deployment(), &patch).unwrap();
    assert_eq!(out["spec"]["replicas"], 4);
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "x": "y"}));

    let err = json_patch(
        &deployment(),
        &json!([{"op": "test", "path": "/spec/replicas", "value": 9}]),
    )
    .unwrap_err();
    let status = err.status();
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert_eq!(
        status.causes[0].message,
        "testing value /spec/replicas failed: test failed"
    );
    let err = json_patch(
        &deployment(),
        &json!([{"op": "remove", "path": "/metadata/annotations/a"}]),
    )
    .unwrap_err();
    assert_eq!(err.status().code, 422);
    let err = json_patch(&deployment(), &json!({"op": "add"})).unwrap_err();
    assert_eq!(err.status().code, 400);
    let err = json_patch(&deployment(), &json!([{"op": "frob", "path": "/a"}])).unwrap_err();
    assert_eq!(err.status().code, 400);
    let many: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
        .map(|_| json!({"op": "test", "path": "/kind", "value": "Deployment"}))
        .collect();
    let err = json_patch(&deployment(), &Value::Array(many)).unwrap_err();
    assert_eq!(err.status().code, 413);
}
