//! Unit tests: fixtures captured from kubectl, round trips, wire edge cases.

use serde_json::json;

use super::*;

#[test]
fn decodes_kubectl_namespace() {
    let body = include_bytes!("testdata/namespace.pb");
    let v = decode(body).unwrap();
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    assert_eq!(
        v,
        json!({"kind":"Namespace","apiVersion":"v1","metadata":{"name":"demo","creationTimestamp":null},"spec":{},"status":{}})
    );
}
