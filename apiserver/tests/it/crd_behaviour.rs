//! Custom resources as upstream serves them, each behaviour checked against a real v1.28
//! server: conditions written through `/status` are kept, defaults added to a CRD show on
//! objects stored before, OpenAPI v2 publishes an unknown-fields root bare, server-side apply
//! refuses undeclared fields and (Strict) duplicate keys, and embedded resources name their
//! apiVersion and kind. Also the plain 404 of unserved groups and the 406 of reviews asked for
//! as a Table.

use http::Method;
use serde_json::{Value, json};

use crate::harness::{Kubectl, Raw, eventually, raw, server};

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: noxus.fv.example.com
spec:
  group: fv.example.com
  names: {plural: noxus, singular: noxu, kind: Noxu, listKind: NoxuList}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
            properties:
              template:
                type: object
                x-kubernetes-embedded-resource: true
                properties:
                  metadata: {type: object, properties: {name: {type: string}}}
                  spec: {type: object}
              foo: {type: string}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: empties.fv.example.com
spec:
  group: fv.example.com
  names: {plural: empties, singular: empty, kind: Empty, listKind: EmptyList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

async fn apply(raw: &Raw, name: &str, validation: &str, yaml: &str) -> (u16, Value) {
    let path =
        format!("/apis/fv.example.com/v1/noxus/{name}?fieldManager=m&fieldValidation={validation}");
    raw.send(
        Method::PATCH,
        &path,
        "application/apply-patch+yaml",
        yaml.as_bytes().to_vec(),
    )
    .await
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

async fn served(k: &Kubectl) {
    eventually(20, || async { k.run(&["get", "noxus"]).0.then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_undeclared_fields_and_strict_duplicates() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    k.ok_stdin(&["apply", "-f", "-"], CRD);
    served(&k).await;
    let raw = raw(&srv);

    let unknown = "apiVersion: fv.example.com/v1\nkind: Noxu\nmetadata:\n  name: a\nunknownField: x\nspec:\n  foo: f\n";
    for mode in ["Strict", "Warn", "Ignore"] {
        let (code, body) = apply(&raw, "a", mode, unknown).await;
        assert_eq!(code, 500, "{body}");
        assert_eq!(
            message(&body),
            "failed to create typed patch object (/a; fv.example.com/v1, Kind=Noxu): .unknownField: field not declared in schema"
        );
        assert!(body.get("reason").is_none(), "{body}");
    }

    let meta = "apiVersion: fv.example.com/v1\nkind: Noxu\nmetadata:\n  name: b\n  unknownMeta: x\nspec:\n  template:\n    apiVersion: v1\n    kind: Sub\n    metadata:\n      unknownSubMeta: y\n      namespace: default\n";
    let (code, body) = apply(&raw, "b", "Strict", meta).await;
    assert_eq!(code, 500);
    assert!(message(&body).ends_with("errors:\n  .metadata.unknownMeta: field not declared in schema\n  .spec.template.metadata.unknownSubMeta: field not declared in schema"), "{body}");

    let dup = "\napiVersion: fv.example.com/v1\nkind: Noxu\nmetadata:\n  name: c\n  finalizers:\n  - test-finalizer\nspec:\n  unknown: uk1\n  foo: foo1\n  foo: foo2\n";
    let (code, body) = apply(&raw, "c", "Strict", dup).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        message(&body),
        "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  line 11: key \"foo\" already set in map"
    );
    let (code, body) = apply(&raw, "c", "Warn", dup).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["spec"], json!({"unknown": "uk1", "foo": "foo2"}));

    let no_api_version = "apiVersion: fv.example.com/v1\nkind: Noxu\nmetadata:\n  name: d\nspec:\n  template:\n    kind: Sub\n    bogus: 1\n";
    let (code, body) = apply(&raw, "d", "Strict", no_api_version).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        message(&body),
        "Noxu.fv.example.com \"d\" is invalid: spec.template.apiVersion: Required value: must not be empty"
    );
    // kubectl's own server-side apply meets the same rule.
    let (ok, _, err) = k.run_stdin(
        &["apply", "--server-side", "-f", "-"],
        Some("apiVersion: fv.example.com/v1\nkind: Noxu\nmetadata:\n  name: e\nbogus: 1\n"),
    );
    assert!(!ok);
    assert!(
        err.contains(".bogus: field not declared in schema"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_status_defaults_on_read_and_openapi() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    k.ok_stdin(&["apply", "-f", "-"], CRD);
    served(&k).await;
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: fv.example.com/v1\nkind: Noxu\nmetadata:\n  name: old\nspec:\n  foo: f\n",
    );

    // A default added later shows on the stored object when read.
    let crd = k.ok(&["get", "crd", "noxus.fv.example.com", "-o", "json"]);
    let mut crd: Value = serde_json::from_str(&crd).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"] =
        json!({"type": "integer", "default": 3});
    k.ok_stdin(&["replace", "-f", "-"], &crd.to_string());
    eventually(20, || async {
        let size = k.ok(&["get", "noxu", "old", "-o", "jsonpath={.spec.size}"]);
        (size == "3").then_some(())
    })
    .await;

    // Conditions written through /status are kept as written.
    k.ok(&[
        "patch", "crd", "noxus.fv.example.com", "--subresource=status", "--type=json",
        "-p", r#"[{"op":"add","path":"/status/conditions/-","value":{"type":"","status":"","message":"updated"}}]"#,
    ]);
    let messages = k.ok(&[
        "get",
        "crd",
        "noxus.fv.example.com",
        "-o",
        "jsonpath={range .status.conditions[*]}{.type}={.message};{end}",
    ]);
    assert!(
        messages.contains("Established=") && messages.ends_with("=updated;"),
        "{messages}"
    );

    // OpenAPI v2 publishes a root that keeps unknown fields as a bare object.
    let v2: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/openapi/v2"])).unwrap();
    assert_eq!(
        v2["definitions"]["com.example.fv.v1.Empty"],
        json!({"type": "object", "x-kubernetes-group-version-kind": [{"group": "fv.example.com", "kind": "Empty", "version": "v1"}]})
    );
    let v3: Value =
        serde_json::from_str(&k.ok(&["get", "--raw", "/openapi/v3/apis/fv.example.com/v1"]))
            .unwrap();
    let empty = &v3["components"]["schemas"]["com.example.fv.v1.Empty"];
    assert_eq!(empty["x-kubernetes-preserve-unknown-fields"], json!(true));
    assert!(empty["properties"]["metadata"].is_object(), "{empty}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unserved_groups_and_table_reviews_answer_as_upstream() {
    let srv = server().await;
    let raw = raw(&srv);
    let (code, body) = raw
        .send(
            Method::GET,
            "/apis/nope.example.com/v1/things",
            "",
            Vec::new(),
        )
        .await;
    assert_eq!((code, body), (404, json!("404 page not found\n")));
    let (code, body) = raw
        .send(Method::GET, "/apis/apps/v1/things", "", Vec::new())
        .await;
    assert_eq!(code, 404);
    assert_eq!(body["kind"], "Status");

    let ssar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"nonResourceAttributes": {"path": "/", "verb": "get"}}});
    let req = http::Request::builder()
        .method(Method::POST)
        .uri("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        .header("content-type", "application/json")
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(kube::client::Body::from(ssar.to_string().into_bytes()))
        .unwrap();
    let resp = raw.0.send(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 406);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiservices_are_registered_and_checked() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    k.ok_stdin(&["apply", "-f", "-"], CRD);
    eventually(20, || async {
        let names = k.ok(&["get", "apiservices", "-o", "name"]);
        (names.contains("apiservice.apiregistration.k8s.io/v1.\n")
            && names.contains("/v1.apps\n")
            && names.contains("/v1.fv.example.com\n"))
        .then_some(())
    })
    .await;
    let core = k.ok(&[
        "get",
        "apiservice",
        "v1.",
        "-o",
        "jsonpath={.spec.groupPriorityMinimum} {.status.conditions[0].reason} {.metadata.labels}",
    ]);
    assert_eq!(
        core,
        r#"18000 Local {"kube-aggregator.kubernetes.io/automanaged":"onstart"}"#
    );

    let remote = "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: v1alpha1.wardle.example.com\nspec:\n  group: wardle.example.com\n  version: v1alpha1\n  groupPriorityMinimum: 2000\n  versionPriority: 200\n  insecureSkipTLSVerify: true\n  service: {namespace: default, name: sample-api, port: 7443}\n";
    k.ok_stdin(&["apply", "-f", "-"], remote);
    let state = || {
        k.ok(&[
            "get",
            "apiservice",
            "v1alpha1.wardle.example.com",
            "-o",
            "jsonpath={.status.conditions[0].reason}: {.status.conditions[0].message}",
        ])
    };
    eventually(20, || async {
        (state() == "ServiceNotFound: service/sample-api in \"default\" is not present")
            .then_some(())
    })
    .await;
    k.ok(&["create", "service", "clusterip", "sample-api", "--tcp=7443"]);
    eventually(20, || async {
        (state() == "MissingEndpoints: endpoints for service/sample-api in \"default\" have no addresses with port name \"7443\"").then_some(())
    })
    .await;
    let table = k.ok(&["get", "apiservice", "v1alpha1.wardle.example.com"]);
    assert!(
        table.contains("default/sample-api   False (MissingEndpoints)"),
        "{table}"
    );

    // A CRD's group-version goes with the CRD.
    k.ok(&[
        "delete",
        "crd",
        "noxus.fv.example.com",
        "empties.fv.example.com",
    ]);
    eventually(20, || async {
        (!k.ok(&["get", "apiservices", "-o", "name"])
            .contains("v1.fv.example.com"))
        .then_some(())
    })
    .await;
    let (ok, _, err) = k.run_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: wrong\nspec:\n  group: g.example.com\n  version: v1\n  groupPriorityMinimum: 1\n  versionPriority: 1\n"),
    );
    assert!(!ok);
    assert!(
        err.contains(
            r#"metadata.name: Invalid value: "wrong": must be `spec.version+"."+spec.group`: "v1.g.example.com""#
        ),
        "{err}"
    );
}
