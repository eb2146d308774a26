use std::path::PathBuf;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};

fn crd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/crd")
}

fn load(file: &str) -> CustomResourceDefinition {
    let path = crd_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run `cargo run -p crds --bin crdgen`)",
            path.display()
        )
    });
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn committed_yaml_matches_generated() {
    let generated = crds::crdgen::rendered_crds().expect("render");
    assert_eq!(generated.len(), 2);
    for (file, yaml) in generated {
        let path = crd_dir().join(&file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == yaml,
            "{} differs from the generated CRD; run `cargo run -p crds --bin crdgen`",
            path.display()
        );
    }
}

#[test]
fn virtualcluster_crd_shape() {
    let crd = load("tenancy.x-k8s.io_virtualclusters.yaml");
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("virtualclusters.tenancy.x-k8s.io")
    );
    assert_eq!(crd.spec.group, "tenancy.x-k8s.io");
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.kind, "VirtualCluster");
    assert_eq!(crd.spec.names.plural, "virtualclusters");
    assert_eq!(
        crd.spec.names.short_names.as_deref(),
        Some(&["vc".to_string()][..])
    );
    assert_eq!(crd.spec.versions.len(), 1);
    let v = &crd.spec.versions[0];
    assert_eq!(v.name, "v1alpha1");
    assert!(v.served && v.storage);
    assert!(
        v.subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some(),
        "status subresource"
    );
    let cols: Vec<(String, String, String)> = v
        .additional_printer_columns
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.name, c.type_, c.json_path))
        .collect();
    for want in [
        ("Phase", "string", ".status.phase"),
        ("ClusterNamespace", "string", ".status.clusterNamespace"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ] {
        assert!(
            cols.iter()
                .any(|(n, t, p)| n == want.0 && t == want.1 && p == want.2),
            "missing printer column {want:?} in {cols:?}"
        );
    }
    let schema = v
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("schema");
    let spec = schema
        .properties
        .as_ref()
        .and_then(|p| p.get("spec"))
        .expect("spec");
    assert_eq!(
        spec.required.as_deref(),
        Some(&["clusterVersionName".to_string()][..])
    );
    let props = spec.properties.as_ref().expect("spec properties");
    for field in [
        "clusterDomain",
        "clusterVersionName",
        "pkiExpireDays",
        "transparentMetaPrefixes",
        "opaqueMetaPrefixes",
        "serviceCidr",
        "provisioner",
        "importKubeconfigSecret",
        "sync",
        "placement",
        "podPolicy",
    ] {
        assert!(props.contains_key(field), "spec.{field} missing");
    }
    let status = schema
        .properties
        .as_ref()
        .and_then(|p| p.get("status"))
        .expect("status");
    for field in [
        "phase",
        "reason",
        "message",
        "clusterNamespace",
        "conditions",
    ] {
        assert!(
            status
                .properties
                .as_ref()
                .is_some_and(|p| p.contains_key(field)),
            "status.{field}"
        );
    }
    assert_structural("virtualcluster", schema, true);
}

#[test]
fn clusterversion_crd_shape() {
    let crd = load("tenancy.x-k8s.io_clusterversions.yaml");
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("clusterversions.tenancy.x-k8s.io")
    );
    assert_eq!(crd.spec.scope, "Cluster");
    assert_eq!(crd.spec.names.kind, "ClusterVersion");
    assert_eq!(
        crd.spec.names.short_names.as_deref(),
        Some(&["cv".to_string()][..])
    );
    let v = &crd.spec.versions[0];
    let schema = v
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("schema");
    let spec = schema
        .properties
        .as_ref()
        .and_then(|p| p.get("spec"))
        .expect("spec");
    let props = spec.properties.as_ref().expect("spec properties");
    for field in ["etcd", "apiServer", "controllerManager"] {
        let bundle = props.get(field).unwrap_or_else(|| panic!("spec.{field}"));
        let bp = bundle.properties.as_ref().expect("bundle properties");
        for sub in ["metadata", "statefulset", "service"] {
            assert!(bp.contains_key(sub), "spec.{field}.{sub}");
        }
    }
    assert_structural("clusterversion", schema, true);
}

/// The rules a real API server applies to CRD schemas (structural schema, v1 restrictions).
fn assert_structural(path: &str, s: &JSONSchemaProps, root: bool) {
    let preserve = s.x_kubernetes_preserve_unknown_fields == Some(true);
    let int_or_string = s.x_kubernetes_int_or_string == Some(true);
    assert!(
        s.type_.is_some() || preserve || int_or_string,
        "{path}: every node needs a type (or preserve-unknown-fields / int-or-string)"
    );
    assert!(s.ref_path.is_none(), "{path}: $ref is not allowed");
    assert!(
        s.definitions.is_none(),
        "{path}: definitions are not allowed"
    );
    assert!(s.id.is_none(), "{path}: id is not allowed");
    assert!(s.dependencies.is_none() || !root, "{path}: dependencies");
    assert!(
        s.nullable != Some(true) || !root,
        "{path}: root cannot be nullable"
    );
    if s.properties.is_some() {
        assert!(
            s.additional_properties.is_none(),
            "{path}: properties and additionalProperties are mutually exclusive"
        );
        assert_eq!(
            s.type_.as_deref(),
            Some("object"),
            "{path}: properties need type object"
        );
    }
    if let Some(t) = &s.type_ {
        assert!(
            ["object", "array", "string", "integer", "number", "boolean"].contains(&t.as_str()),
            "{path}: type {t}"
        );
        if t == "array" {
            assert!(s.items.is_some(), "{path}: arrays need items");
        }
    }
    for (branch, list) in [
        ("anyOf", &s.any_of),
        ("oneOf", &s.one_of),
        ("allOf", &s.all_of),
    ] {
        for (i, b) in list.iter().flatten().enumerate() {
            assert!(
                b.properties.is_none(),
                "{path}.{branch}[{i}]: value validations only"
            );
            assert!(
                b.type_.is_none(),
                "{path}.{branch}[{i}]: no type inside logical junctors"
            );
        }
    }
    let root_meta = s.properties.as_ref().and_then(|p| p.get("metadata"));
    if let (true, Some(meta)) = (root, root_meta) {
        let keys: Vec<_> = meta.properties.iter().flat_map(|p| p.keys()).collect();
        assert!(
            keys.iter().all(|k| *k == "name" || *k == "generateName"),
            "{path}: metadata"
        );
    }
    for (name, child) in s.properties.iter().flatten() {
        assert_structural(&format!("{path}.{name}"), child, false);
    }
    if let Some(items) = &s.items {
        match items {
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(c) => {
                assert_structural(&format!("{path}[]"), c, false)
            }
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schemas(cs) => {
                panic!("{path}: items must be a single schema, found {}", cs.len())
            }
        }
    }
    if let Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrBool::Schema(c)) =
        &s.additional_properties
    {
        assert_structural(&format!("{path}{{}}"), c, false);
    }
}
