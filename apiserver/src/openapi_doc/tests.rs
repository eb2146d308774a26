use serde_json::{Value, json};

use super::*;

fn builtin(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> ServedKind {
    ServedKind {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced,
        verbs: [
            "get",
            "list",
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection",
        ]
        .map(String::from)
        .to_vec(),
        subresources: vec!["status".into()],
        schema: None,
    }
}

fn kinds() -> Vec<ServedKind> {
    let mut widget = builtin("stable.example.com", "v1", "Widget", "widgets", true);
    widget.schema = Some(json!({"type": "object", "properties": {
        "spec": {"type": "object", "description": "The widget spec.",
                 "properties": {"size": {"type": "integer"}}}}}));
    vec![
        builtin("", "v1", "Pod", "pods", true),
        builtin("", "v1", "Namespace", "namespaces", false),
        builtin("apps", "v1", "Deployment", "deployments", true),
        widget,
    ]
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn v3_index_links_hashed_documents() {
    let api = OpenApi::build(&kinds(), "v1.33.0").unwrap();
    let index = parse(api.v3_index());
    let paths = index["paths"].as_object().unwrap();
    let keys: Vec<&String> = paths.keys().collect();
    assert_eq!(
        keys,
        ["api/v1", "apis/apps/v1", "apis/stable.example.com/v1"]
    );
    let url = paths["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap();
    let hash = url.strip_prefix("/openapi/v3/apis/apps/v1?hash=").unwrap();
    assert_eq!(hash.len(), 128);
    assert!(
        hash.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    );
    // Deterministic: the same input gives the same hash.
    let again = OpenApi::build(&kinds(), "v1.33.0").unwrap();
    assert_eq!(again.v3_index(), api.v3_index());
}

#[test]
fn v3_group_document_has_kinds_extensions_and_patch_params() {
    let api = OpenApi::build(&kinds(), "v1.33.0").unwrap();
    let doc = parse(api.v3_document("apis/apps/v1").unwrap());
    assert_eq!(doc["openapi"], "3.0.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let deploy = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deploy["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert_eq!(
        deploy["properties"]["spec"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
    );
    let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(
        containers["items"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Container"
    );
    assert!(schemas.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    assert!(!schemas.contains_key("io.k8s.api.core.v1.Namespace"));
    // JSONSchemaProps' "$ref" property is not mistaken for a reference.
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "Deployment"
    );
    let params: Vec<&str> = patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(params.contains(&"fieldValidation"));
    assert!(
        patch["requestBody"]["content"]
            .get("application/strategic-merge-patch+json")
            .is_some()
    );
    assert!(
        doc["paths"]
            .get("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status")
            .is_some()
    );
    assert!(doc["paths"].get("/apis/apps/v1/deployments").is_some());
    let core = parse(api.v3_document("api/v1").unwrap());
    assert!(core["paths"].get("/api/v1/namespaces/{name}").is_some());
    assert_eq!(
        core["paths"]["/api/v1/namespaces/{name}"]["get"]["operationId"],
        "readCoreV1Namespace"
    );
}

#[test]
fn crd_documents() {
    let api = OpenApi::build(&kinds(), "v1.33.0").unwrap();
    let doc = parse(api.v3_document("apis/stable.example.com/v1").unwrap());
    let schemas = &doc["components"]["schemas"];
    let widget = &schemas["com.example.stable.v1.Widget"];
    assert_eq!(
        widget["x-kubernetes-group-version-kind"][0]["kind"],
        "Widget"
    );
    assert_eq!(
        widget["properties"]["spec"]["properties"]["size"]["type"],
        "integer"
    );
    assert_eq!(
        widget["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(schemas.get("com.example.stable.v1.WidgetList").is_some());
    let patch =
        &doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    assert!(
        patch["requestBody"]["content"]
            .get("application/strategic-merge-patch+json")
            .is_none()
    );
    assert_eq!(
        crd_definition_name("stable.example.com", "v1", "CronTab"),
        "com.example.stable.v1.CronTab"
    );
}

#[test]
fn v2_document_and_content_negotiation() {
    let api = OpenApi::build(&kinds(), "v1.33.0").unwrap();
    let v2 = parse(api.v2_json());
    assert_eq!(v2["swagger"], "2.0");
    assert_eq!(v2["info"]["version"], "v1.33.0");
    assert!(v2["definitions"].get("io.k8s.api.core.v1.Pod").is_some());
    assert!(
        v2["definitions"]
            .get("com.example.stable.v1.Widget")
            .is_some()
    );
    let pb = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    let served = api.serve("/openapi/v2", None, Some(pb), None);
    assert_eq!(served.status, 200);
    assert_eq!(served.body, api.v2_protobuf());
    let other = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
    assert!(served.headers.contains(&("Content-Type", other.to_owned())));
    assert_eq!(
        api.serve("/openapi/v2", None, Some(other), None).body,
        api.v2_protobuf()
    );
    assert_eq!(
        api.serve("/openapi/v2", None, Some("text/html"), None)
            .status,
        406
    );
    let ok = api.serve("/openapi/v2", None, Some("application/json"), None);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, api.v2_json());
    assert_eq!(
        api.serve("/openapi/v3/apis/nope/v1", None, None, None)
            .status,
        404
    );
}

#[test]
fn hashed_urls_are_immutable_and_stale_hashes_redirect() {
    let api = OpenApi::build(&kinds(), "v1.33.0").unwrap();
    let index = parse(api.v3_index());
    let url = index["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap();
    let hash = url.split("hash=").nth(1).unwrap();
    let resp = api.serve(
        "/openapi/v3/api/v1",
        Some(hash),
        Some("application/json"),
        None,
    );
    assert_eq!(resp.status, 200);
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|(h, _)| *h == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("Cache-Control").as_deref(),
        Some("public, immutable")
    );
    assert_eq!(header("Etag"), Some(format!("\"{hash}\"")));
    assert!(header("Expires").is_some());
    let stale = api.serve("/openapi/v3/api/v1", Some("ABC"), None, None);
    assert_eq!(stale.status, 301);
    assert_eq!(stale.headers[0].1, url);
    let not_modified = api.serve(
        "/openapi/v3/api/v1",
        None,
        None,
        Some(&format!("\"{hash}\"")),
    );
    assert_eq!(not_modified.status, 304);
    let plain = api.serve("/openapi/v3/api/v1", None, None, None);
    assert!(plain.headers.iter().all(|(h, _)| *h != "Cache-Control"));
    assert!(OpenApi::build(&[builtin("", "v1", "Nope", "nopes", true)], "v1.33.0").is_err());
}

/// The length-delimited occurrences of field `number` in a message.
fn submessages(msg: &[u8], number: u32) -> Vec<&[u8]> {
    crate::protobuf::fields(msg, "test")
        .unwrap()
        .into_iter()
        .filter_map(|(n, w)| match w {
            crate::protobuf::Wire::Bytes(b) if n == number => Some(b),
            _ => None,
        })
        .collect()
}

/// The `NamedX` entry called `name` among the occurrences of field `number`: its value.
fn named_value<'a>(msg: &'a [u8], number: u32, name: &str) -> Option<&'a [u8]> {
    submessages(msg, number)
        .into_iter()
        .find(|entry| submessages(entry, 1).first() == Some(&name.as_bytes()))
        .and_then(|entry| submessages(entry, 2).first().copied())
}

#[test]
fn v2_protobuf_carries_definitions_extensions_and_paths() {
    let api = OpenApi::build(&kinds(), "v1.33.0").unwrap();
    let doc = api.v2_protobuf();
    assert_eq!(submessages(doc, 1), vec![b"2.0".as_slice()]);
    let info = submessages(doc, 2)[0];
    assert_eq!(submessages(info, 2), vec![b"v1.33.0".as_slice()]);
    let definitions = submessages(doc, 9)[0];
    let pod = named_value(definitions, 1, "io.k8s.api.core.v1.Pod").expect("Pod definition");
    // type: object (TypeItem), properties include spec as a $ref.
    assert_eq!(
        submessages(submessages(pod, 22)[0], 1),
        vec![b"object".as_slice()]
    );
    let properties = submessages(pod, 25)[0];
    let spec = named_value(properties, 1, "spec").expect("spec property");
    assert_eq!(
        submessages(spec, 1),
        vec![b"#/definitions/io.k8s.api.core.v1.PodSpec".as_slice()]
    );
    // Vendor extensions as YAML in Any.yaml (field 2).
    let gvk = named_value(pod, 31, "x-kubernetes-group-version-kind").expect("gvk extension");
    let yaml = String::from_utf8(submessages(gvk, 2)[0].to_vec()).unwrap();
    let parsed: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(parsed[0]["kind"], "Pod");
    let pod_spec = named_value(definitions, 1, "io.k8s.api.core.v1.PodSpec").unwrap();
    let containers = named_value(submessages(pod_spec, 25)[0], 1, "containers").unwrap();
    let strategy = named_value(containers, 31, "x-kubernetes-patch-merge-key").unwrap();
    assert_eq!(submessages(strategy, 2)[0], b"name\n");
    // Paths with operations.
    let paths = submessages(doc, 8)[0];
    let pods = named_value(paths, 2, "/api/v1/namespaces/{namespace}/pods").expect("pods path");
    assert!(!submessages(pods, 2).is_empty(), "GET operation");
}
