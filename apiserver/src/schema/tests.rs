use serde_json::json;

use super::*;

fn pod() -> TypeRef<'static> {
    SchemaIndex::builtin()
        .unwrap()
        .type_for_gvk(&Gvk::new("", "v1", "Pod"))
        .unwrap()
}

#[test]
fn containers_merge_by_name() {
    let containers = pod().path("spec.containers").unwrap();
    assert_eq!(containers.kind(), TypeKind::Array);
    assert_eq!(containers.list_type(), ListType::Map);
    assert_eq!(containers.list_map_keys(), ["name".to_owned()]);
    assert!(containers.patch_strategy().merge);
    assert_eq!(containers.patch_merge_key(), Some("name"));
    let env = containers.items().unwrap().field("env").unwrap();
    assert_eq!(env.patch_merge_key(), Some("name"));
    let ports = pod().path("spec.containers.ports").unwrap();
    assert_eq!(ports.patch_merge_key(), Some("containerPort"));
    assert_eq!(
        ports.list_map_keys(),
        ["containerPort".to_owned(), "protocol".to_owned()]
    );
}

#[test]
fn field_extensions_from_upstream_data() {
    let finalizers = pod().path("metadata.finalizers").unwrap();
    assert!(finalizers.patch_strategy().merge);
    assert_eq!(finalizers.list_type(), ListType::Set);
    let tolerations = pod().path("spec.tolerations").unwrap();
    assert!(!tolerations.patch_strategy().merge);
    assert_eq!(tolerations.list_type(), ListType::Atomic);
    let volumes = pod().path("spec.volumes").unwrap();
    assert!(volumes.patch_strategy().merge && volumes.patch_strategy().retain_keys);
    let conditions = pod().path("status.conditions").unwrap();
    assert_eq!(conditions.patch_merge_key(), Some("type"));
    let node_selector = pod().path("spec.nodeSelector").unwrap();
    assert_eq!(node_selector.map_type(), MapType::Atomic);
    assert!(node_selector.is_map());
    let labels = pod().path("metadata.labels").unwrap();
    assert!(labels.is_map());
    assert_eq!(labels.field("app").unwrap().kind(), TypeKind::String);
}

#[test]
fn deployment_strategy_and_selector() {
    let index = SchemaIndex::builtin().unwrap();
    let deploy = index
        .type_for_gvk(&Gvk::new("apps", "v1", "Deployment"))
        .unwrap();
    assert!(
        deploy
            .path("spec.strategy")
            .unwrap()
            .patch_strategy()
            .retain_keys
    );
    assert_eq!(
        deploy.path("spec.selector").unwrap().map_type(),
        MapType::Atomic
    );
    assert_eq!(
        deploy.path("spec.replicas").unwrap().kind(),
        TypeKind::Integer
    );
    let containers = deploy.path("spec.template.spec.containers").unwrap();
    assert_eq!(containers.patch_merge_key(), Some("name"));
}

#[test]
fn scalars_and_unknown_fields() {
    let index = SchemaIndex::builtin().unwrap();
    let svc = index.type_for_gvk(&Gvk::new("", "v1", "Service")).unwrap();
    assert_eq!(
        svc.path("spec.ports.targetPort").unwrap().kind(),
        TypeKind::IntOrString
    );
    assert!(svc.path("spec.foo").is_none());
    assert!(pod().field("spec").unwrap().field("bogus").is_none());
    let limits = pod().path("spec.containers.resources.limits").unwrap();
    assert_eq!(limits.field("cpu").unwrap().kind(), TypeKind::IntOrString);
    // Opaque built-in types accept anything.
    let fields_v1 = pod().path("metadata.managedFields.fieldsV1").unwrap();
    assert!(fields_v1.is_untyped());
    assert!(fields_v1.field("f:spec").is_some());
}

#[test]
fn every_builtin_kind_and_list_resolves() {
    let index = SchemaIndex::builtin().unwrap();
    assert!(index.builtin_kinds().len() > 60);
    for kind in index.builtin_kinds() {
        let ty = index.type_for_gvk(&kind.gvk()).unwrap();
        assert_eq!(ty.kind(), TypeKind::Object, "{}", kind.kind);
        assert!(
            ty.field("metadata").is_some() || kind.definition.starts_with("io.k8s.apimachinery")
        );
        if let Some(list_kind) = kind.list_kind {
            let list = index
                .type_for_gvk(&Gvk::new(kind.group, kind.version, list_kind))
                .unwrap();
            assert_eq!(list.path("items").unwrap().kind(), TypeKind::Array);
        }
    }
    let pods = index.builtin_kind(&Gvk::new("", "v1", "Pod")).unwrap();
    assert_eq!(pods.plural, "pods");
    assert_eq!(pods.namespaced, Some(true));
    assert_eq!(pods.list_kind, Some("PodList"));
    let nodes = index.builtin_kind(&Gvk::new("", "v1", "Node")).unwrap();
    assert_eq!(nodes.namespaced, Some(false));
    // DeleteOptions is declared under many group-versions upstream.
    assert!(
        index
            .type_for_gvk(&Gvk::new("apps", "v1", "DeleteOptions"))
            .is_some()
    );
}

#[test]
fn upstream_extensions_match_generated_fields() {
    // Every extension of a served definition must land on a generated field: a mismatch means
    // the typed API and the vendored data disagree on the Kubernetes version.
    let index = SchemaIndex::builtin().unwrap();
    let defs = index.definitions();
    let mut missing = Vec::new();
    for (name, entry) in builtin::overlay_for_tests() {
        let Some(def) = defs.get(&name) else { continue };
        for prop in entry.as_object().unwrap().keys() {
            if !prop.is_empty() && def.pointer(&format!("/properties/{prop}")).is_none() {
                missing.push(format!("{name}.{prop}"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:?}");
    let pod = &defs["io.k8s.api.core.v1.Pod"];
    assert!(pod.get("required").is_none());
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
}

fn crd_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "port": {"x-kubernetes-int-or-string": true},
                    "items": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {"name": {"type": "string"}}}
                    },
                    "tags": {"type": "array", "x-kubernetes-list-type": "set",
                             "items": {"type": "string"}},
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                 "x-kubernetes-preserve-unknown-fields": true},
                    "empty": {"type": "object"}
                }
            },
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
        }
    })
}

#[test]
fn crd_schema_index() {
    let gvk = Gvk::new("example.com", "v1", "Widget");
    let index = SchemaIndex::from_crd_schema(gvk.clone(), &crd_schema()).unwrap();
    let root = index.type_for_gvk(&gvk).unwrap();
    assert_eq!(root.field("kind").unwrap().kind(), TypeKind::String);
    let meta = root.field("metadata").unwrap();
    assert!(meta.field("labels").unwrap().is_map());
    assert!(meta.field("bogus").is_none());
    assert!(meta.path("ownerReferences").unwrap().list_type() == ListType::Map);
    assert!(root.path("spec.bogus").is_none());
    assert_eq!(
        root.path("spec.port").unwrap().kind(),
        TypeKind::IntOrString
    );
    let items = root.path("spec.items").unwrap();
    assert_eq!(items.list_type(), ListType::Map);
    assert_eq!(items.list_map_keys(), ["name".to_owned()]);
    assert_eq!(root.path("spec.tags").unwrap().list_type(), ListType::Set);
    let config = root.path("spec.config").unwrap();
    assert!(config.preserves_unknown_fields());
    assert!(config.field("anything").is_some());
    assert!(root.path("spec.labels").unwrap().is_map());
    let template = root.path("spec.template").unwrap();
    assert!(template.is_embedded_resource());
    assert!(template.path("metadata.name").is_some());
    // A closed empty object knows no fields (pruned upstream).
    assert!(root.path("spec.empty.x").is_none());
}

#[test]
fn crd_schema_rejects_bad_extensions() {
    let gvk = Gvk::new("example.com", "v1", "Widget");
    let bad = json!({"type": "object", "properties": {
        "l": {"type": "array", "x-kubernetes-list-type": "bogus", "items": {"type": "string"}}
    }});
    let err = SchemaIndex::from_crd_schema(gvk, &bad).unwrap_err();
    assert!(err.to_string().contains("x-kubernetes-list-type"), "{err}");
}

#[test]
fn untyped_walks_anywhere() {
    let t = TypeRef::untyped();
    assert!(t.field("a").unwrap().items().unwrap().field("b").is_some());
    assert_eq!(t.list_type(), ListType::Atomic);
}
