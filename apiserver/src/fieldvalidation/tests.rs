use serde_json::json;

use super::*;
use crate::schema::{Gvk, SchemaIndex, TypeRef};

fn ty(group: &str, kind: &str) -> TypeRef<'static> {
    SchemaIndex::builtin()
        .unwrap()
        .type_for_gvk(&Gvk::new(group, "v1", kind))
        .unwrap()
}

fn decode(body: &str, format: BodyFormat) -> Decoded {
    decode_body(body.as_bytes(), format, &ty("apps", "Deployment"), true).unwrap()
}

#[test]
fn unknown_fields_reported_with_paths_and_dropped() {
    let body = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","bogus":1},
        "spec":{"replicas":1,"foo":{"x":1},"template":{"spec":{"containers":[
            {"name":"a","image":"x"},{"name":"b","image":"y","badField":true}]}}}}"#;
    let decoded = decode(body, BodyFormat::Json);
    let messages: Vec<String> = decoded
        .strict_errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        [
            r#"unknown field "metadata.bogus""#,
            r#"unknown field "spec.foo""#,
            r#"unknown field "spec.template.spec.containers[1].badField""#,
        ]
    );
    assert!(decoded.value["spec"].get("foo").is_none());
    assert!(decoded.value["metadata"].get("bogus").is_none());
    assert_eq!(
        decoded.value["spec"]["template"]["spec"]["containers"][1]["name"],
        "b"
    );
}

#[test]
fn duplicate_json_fields_last_wins() {
    let body = r#"{"metadata":{"name":"a","name":"b","labels":{"x":"1","x":"2"}},
                   "spec":{"replicas":1,"replicas":2}}"#;
    let decoded = decode(body, BodyFormat::Json);
    let messages: Vec<String> = decoded
        .strict_errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        [
            r#"duplicate field "metadata.name""#,
            r#"duplicate field "metadata.labels.x""#,
            r#"duplicate field "spec.replicas""#,
        ]
    );
    assert_eq!(decoded.value["metadata"]["name"], "b");
    assert_eq!(decoded.value["spec"]["replicas"], 2);
}

#[test]
fn yaml_duplicates_use_go_yaml_message() {
    let body = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 1\n  replicas: 3\n  bogus: 1\n";
    let decoded = decode(body, BodyFormat::Yaml);
    let messages: Vec<String> = decoded
        .strict_errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        [
            "yaml: unmarshal errors:\n  line 7: key \"replicas\" already set in map",
            r#"unknown field "spec.bogus""#,
        ]
    );
    assert_eq!(decoded.value["spec"]["replicas"], 3);
}

#[test]
fn strict_warn_ignore_outcomes() {
    let errors = vec![StrictError::UnknownField("spec.foo".into())];
    match Directive::Strict.outcome(&errors, "Deployment", "v1") {
        Outcome::Reject(status) => {
            assert_eq!(status.code, 400);
            assert_eq!(status.reason, "BadRequest");
            assert_eq!(
                status.message,
                r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo""#
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        Directive::Warn.outcome(&errors, "Deployment", "v1"),
        Outcome::Proceed {
            warnings: vec![r#"299 - "unknown field \"spec.foo\"""#.to_owned()]
        }
    );
    assert_eq!(
        Directive::Ignore.outcome(&errors, "Deployment", "v1"),
        Outcome::Proceed { warnings: vec![] }
    );
    assert_eq!(Directive::from_query(None).unwrap(), Directive::Warn);
    assert_eq!(
        Directive::from_query(Some("Strict")).unwrap(),
        Directive::Strict
    );
    assert!(Directive::from_query(Some("strict")).is_err());
    match Directive::Strict.patch_outcome(&errors, "{}") {
        Outcome::Reject(status) => {
            assert_eq!(status.code, 422);
            assert_eq!(status.causes[0].field, "patch");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn type_errors_are_fatal_for_builtins() {
    let err = decode_body(
        br#"{"spec":{"replicas":"three"}}"#,
        BodyFormat::Json,
        &ty("apps", "Deployment"),
        true,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "json: cannot unmarshal string into Go struct field spec.replicas of type integer"
    );
    assert_eq!(err.status("Deployment", "v1").code, 400);
    // Int-or-string and quantities take both.
    let ok = decode_body(
        br#"{"spec":{"template":{"spec":{"containers":[{"name":"a",
            "resources":{"limits":{"cpu":0.5,"memory":"1Gi"}}}]}},
            "strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":"25%"}}}}"#,
        BodyFormat::Json,
        &ty("apps", "Deployment"),
        true,
    );
    assert!(ok.is_ok(), "{ok:?}");
    assert!(decode_body(b"{not json", BodyFormat::Json, &ty("", "Pod"), true).is_err());
}

#[test]
fn crd_preserved_fields_are_known() {
    let gvk = Gvk::new("example.com", "v1", "Widget");
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": {"size": {"type": "integer"},
                       "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}});
    let index = SchemaIndex::from_crd_schema(gvk.clone(), &schema).unwrap();
    let root = index.type_for_gvk(&gvk).unwrap();
    let body = br#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},
        "spec":{"size":1,"free":{"a":{"b":1}},"other":2},"status":{}}"#;
    let decoded = decode_body(body, BodyFormat::Json, &root, false).unwrap();
    let messages: Vec<String> = decoded
        .strict_errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        [r#"unknown field "spec.other""#, r#"unknown field "status""#]
    );
    assert_eq!(decoded.value["spec"]["free"], json!({"a": {"b": 1}}));
}

#[test]
fn prune_reports_paths_of_patched_objects() {
    let mut obj = json!({"metadata": {"name": "p", "x": 1},
                         "spec": {"containers": [{"name": "a", "y": 2}]}});
    let errors = prune_unknown_fields(&mut obj, &ty("", "Pod"));
    assert_eq!(
        errors,
        vec![
            StrictError::UnknownField("metadata.x".into()),
            StrictError::UnknownField("spec.containers[0].y".into())
        ]
    );
    assert_eq!(
        obj,
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}})
    );
}
