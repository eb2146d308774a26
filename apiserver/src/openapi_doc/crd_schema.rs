//! The OpenAPI definitions of a custom resource, as upstream's CRD OpenAPI builder publishes
//! them: the version's schema plus the Kubernetes-native properties, and for v2 the schema
//! cut down to what kubectl's v2 validation copes with.

use serde_json::{Map, Value, json};

use super::served_kind::ServedKind;

const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DOC: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const EMBEDDED_API_VERSION_DOC: &str = "apiVersion defines the versioned schema of this representation of an object. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const EMBEDDED_KIND_DOC: &str = "kind is a string value representing the type of this object. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const OBJECT_META: &str = "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

fn gvk(kind: &ServedKind, kind_name: &str) -> Value {
    json!([{"group": kind.group, "kind": kind_name, "version": kind.version}])
}

fn is_true(s: &Map<String, Value>, key: &str) -> bool {
    s.get(key) == Some(&json!(true))
}

/// The definition of a custom resource kind (v3's form; v2 uses [`v2_definition`]).
pub fn definition(kind: &ServedKind, schema: &Value) -> Value {
    let mut def = schema.clone();
    add_embedded_properties(&mut def, false);
    native(kind, def)
}

/// The definition as `/openapi/v2` publishes it.
pub fn v2_definition(kind: &ServedKind, schema: &Value) -> Value {
    let root_preserves = schema
        .as_object()
        .is_some_and(|s| is_true(s, "x-kubernetes-preserve-unknown-fields"));
    if root_preserves {
        // Properties would make kubectl refuse every unknown field, so none are published.
        return json!({"type": "object", "x-kubernetes-group-version-kind": gvk(kind, &kind.kind)});
    }
    let mut def = schema.clone();
    to_v2(&mut def);
    add_embedded_properties(&mut def, true);
    native(kind, def)
}

/// Adds `apiVersion`, `kind`, `metadata` and the group-version-kind extension.
fn native(kind: &ServedKind, mut def: Value) -> Value {
    let Some(obj) = def.as_object_mut() else {
        return def;
    };
    obj.entry("type").or_insert_with(|| json!("object"));
    let props = obj
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(props) = props.as_object_mut() {
        props.insert(
            "apiVersion".into(),
            json!({"description": API_VERSION_DOC, "type": "string"}),
        );
        props.insert(
            "kind".into(),
            json!({"description": KIND_DOC, "type": "string"}),
        );
        props.insert(
            "metadata".into(),
            json!({"$ref": OBJECT_META, "description": METADATA_DOC}),
        );
    }
    obj.insert(
        "x-kubernetes-group-version-kind".into(),
        gvk(kind, &kind.kind),
    );
    def
}

/// The list kind's definition.
pub fn list_definition(kind: &ServedKind, item: &str) -> Value {
    json!({
        "description": format!("{}List is a list of {}", kind.kind, kind.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": format!("#/definitions/{item}")}},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"}
        },
        "x-kubernetes-group-version-kind": gvk(kind, &format!("{}List", kind.kind)),
    })
}

/// Each node marked `x-kubernetes-embedded-resource` gets the object properties (not in v2
/// where it also keeps unknown fields).
fn add_embedded_properties(s: &mut Value, v2: bool) {
    let Some(obj) = s.as_object_mut() else {
        return;
    };
    for_each_child(obj, |c| add_embedded_properties(c, v2));
    if !is_true(obj, "x-kubernetes-embedded-resource")
        || (v2 && is_true(obj, "x-kubernetes-preserve-unknown-fields"))
    {
        return;
    }
    let props = obj
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(p) = props.as_object_mut() {
        p.insert(
            "apiVersion".into(),
            json!({"description": EMBEDDED_API_VERSION_DOC, "type": "string"}),
        );
        p.insert(
            "kind".into(),
            json!({"description": EMBEDDED_KIND_DOC, "type": "string"}),
        );
        p.insert(
            "metadata".into(),
            json!({"$ref": OBJECT_META, "description": METADATA_DOC}),
        );
    }
    let required = obj.entry("required").or_insert_with(|| json!([]));
    if let Some(r) = required.as_array_mut() {
        for k in ["kind", "apiVersion"] {
            if !r.iter().any(|x| x == k) {
                r.push(json!(k));
            }
        }
    }
}

fn for_each_child(obj: &mut Map<String, Value>, mut f: impl FnMut(&mut Value)) {
    if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
        props.values_mut().for_each(&mut f);
    }
    if let Some(ap) = obj
        .get_mut("additionalProperties")
        .filter(|a| a.is_object())
    {
        f(ap);
    }
    if let Some(items) = obj.get_mut("items").filter(|i| i.is_object()) {
        f(items);
    }
}

/// Upstream's v2 cut (`ToStructuralOpenAPIV2`): no combinators or defaults, nullable and
/// unknown-field-keeping nodes without type or children, arrays without items untyped.
fn to_v2(s: &mut Value) {
    let Some(obj) = s.as_object_mut() else {
        return;
    };
    for k in ["allOf", "oneOf", "anyOf", "not", "default"] {
        obj.remove(k);
    }
    let nullable_children: Vec<String> = obj
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, c)| c.get("nullable") == Some(&json!(true)))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    if let Some(req) = obj.get_mut("required").and_then(Value::as_array_mut) {
        req.retain(|r| {
            !r.as_str()
                .is_some_and(|n| nullable_children.iter().any(|c| c == n))
        });
        if req.is_empty() {
            obj.remove("required");
        }
    }
    if obj.remove("nullable") == Some(json!(true)) {
        for k in ["type", "items", "properties"] {
            obj.remove(k);
        }
    }
    if is_true(obj, "x-kubernetes-preserve-unknown-fields") {
        for k in ["type", "items", "properties"] {
            obj.remove(k);
        }
    }
    if obj.get("type") == Some(&json!("array")) && !obj.contains_key("items") {
        obj.remove("type");
    }
    for_each_child(obj, to_v2);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind() -> ServedKind {
        ServedKind {
            group: "ex.example.com".into(),
            version: "v1".into(),
            kind: "Val".into(),
            ..ServedKind::default()
        }
    }

    #[test]
    fn v2_is_cut_as_upstream_publishes_it() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["num", "nul"], "properties": {
            "num": {"type": "integer", "default": 2, "minimum": 1},
            "nul": {"type": "string", "nullable": true},
            "ios": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "emb": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
            "anyarr": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}});
        let v2 = v2_definition(&kind(), &schema);
        let spec = &v2["properties"]["spec"];
        assert_eq!(spec["required"], json!(["num"]));
        assert_eq!(
            spec["properties"]["num"],
            json!({"type": "integer", "minimum": 1})
        );
        assert_eq!(spec["properties"]["nul"], json!({}));
        assert_eq!(
            spec["properties"]["ios"],
            json!({"x-kubernetes-int-or-string": true})
        );
        assert_eq!(
            spec["properties"]["emb"],
            json!({"x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true})
        );
        assert_eq!(
            spec["properties"]["anyarr"]["items"],
            json!({"x-kubernetes-preserve-unknown-fields": true})
        );
        let v3 = definition(&kind(), &schema);
        assert_eq!(
            v3["properties"]["spec"]["properties"]["num"]["default"],
            json!(2)
        );
        assert_eq!(
            v3["properties"]["spec"]["properties"]["emb"]["required"],
            json!(["kind", "apiVersion"])
        );
    }

    #[test]
    fn a_root_keeping_unknown_fields_is_published_bare_in_v2() {
        let schema = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        assert_eq!(
            v2_definition(&kind(), &schema),
            json!({"type": "object", "x-kubernetes-group-version-kind": [{"group": "ex.example.com", "kind": "Val", "version": "v1"}]})
        );
        let v3 = definition(&kind(), &schema);
        assert!(v3["properties"]["metadata"].is_object());
    }
}
