//! REST paths and operations of served kinds, in OpenAPI v2 and v3 form.

use serde_json::{Map, Value, json};

use super::served_kind::ServedKind;

/// Which document flavour to emit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavour {
    V2,
    V3,
}

impl Flavour {
    pub(super) fn reference(self, definition: &str) -> Value {
        match self {
            Flavour::V2 => json!({"$ref": format!("#/definitions/{definition}")}),
            Flavour::V3 => json!({"$ref": format!("#/components/schemas/{definition}")}),
        }
    }
}

/// `CoreV1`, `AppsV1`, `NetworkingV1`, `RbacAuthorizationV1`, `StableExampleComV1`.
fn operation_prefix(group: &str, version: &str) -> String {
    let group = if group.is_empty() { "core" } else { group };
    let group = group.strip_suffix(".k8s.io").unwrap_or(group);
    let mut out = String::new();
    for part in group.split(['.', '-']) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    let mut chars = version.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
    out
}

fn query(name: &str, description: &str, ty: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "uniqueItems": true, "type": ty})
}

fn param(flavour: Flavour, p: Value) -> Value {
    if flavour == Flavour::V2 {
        return p;
    }
    // v3 moves `type` into `schema`.
    let mut p = p;
    if let Some(obj) = p.as_object_mut()
        && let Some(ty) = obj.remove("type")
    {
        obj.insert("schema".into(), json!({"type": ty, "uniqueItems": true}));
        obj.remove("uniqueItems");
    }
    p
}

fn write_params(flavour: Flavour, patch: bool) -> Vec<Value> {
    let mut params = vec![
        query(
            "dryRun",
            "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
            "string",
        ),
        query(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
            "string",
        ),
        query(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.",
            "string",
        ),
    ];
    if patch {
        params.push(query(
            "force",
            "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
            "boolean",
        ));
    }
    params.into_iter().map(|p| param(flavour, p)).collect()
}

fn path_param(flavour: Flavour, name: &str, description: &str) -> Value {
    param(
        flavour,
        json!({"name": name, "in": "path", "description": description, "required": true,
               "uniqueItems": true, "type": "string"}),
    )
}

struct Op<'a> {
    kind: &'a ServedKind,
    flavour: Flavour,
    definition: &'a str,
    list_definition: &'a str,
}

impl Op<'_> {
    fn gvk(&self) -> Value {
        json!({"group": self.kind.group, "version": self.kind.version, "kind": self.kind.kind})
    }

    fn response(&self, definition: &str) -> Value {
        let schema = self.flavour.reference(definition);
        match self.flavour {
            Flavour::V2 => json!({"description": "OK", "schema": schema}),
            Flavour::V3 => json!({"description": "OK", "content": {
                "application/json": {"schema": schema},
                "application/yaml": {"schema": schema}
            }}),
        }
    }

    fn operation(
        &self,
        id: String,
        description: String,
        action: &str,
        params: Vec<Value>,
        body: Option<Vec<&str>>,
        definition: &str,
    ) -> Value {
        let mut op = Map::new();
        op.insert("description".into(), json!(description));
        op.insert("operationId".into(), json!(id));
        let tag = operation_prefix(&self.kind.group, &self.kind.version);
        op.insert("tags".into(), json!([tag]));
        let mut params = params;
        if let Some(types) = &body {
            match self.flavour {
                Flavour::V2 => {
                    params.insert(
                        0,
                        json!({"name": "body", "in": "body", "required": true,
                               "schema": self.flavour.reference(definition)}),
                    );
                    op.insert("consumes".into(), json!(types));
                }
                Flavour::V3 => {
                    let schema = if action == "patch" {
                        self.flavour
                            .reference("io.k8s.apimachinery.pkg.apis.meta.v1.Patch")
                    } else {
                        self.flavour.reference(definition)
                    };
                    let content: Map<String, Value> = types
                        .iter()
                        .map(|t| ((*t).to_owned(), json!({"schema": schema})))
                        .collect();
                    op.insert(
                        "requestBody".into(),
                        json!({"content": content, "required": true}),
                    );
                }
            }
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if self.flavour == Flavour::V2 {
            op.insert(
                "produces".into(),
                json!(["application/json", "application/yaml"]),
            );
            op.insert("schemes".into(), json!(["https"]));
        }
        let mut responses = Map::new();
        responses.insert("200".into(), self.response(definition));
        if matches!(action, "post" | "put" | "patch") {
            responses.insert("201".into(), self.response(definition));
        }
        responses.insert("401".into(), json!({"description": "Unauthorized"}));
        op.insert("responses".into(), Value::Object(responses));
        op.insert("x-kubernetes-action".into(), json!(action));
        op.insert("x-kubernetes-group-version-kind".into(), self.gvk());
        Value::Object(op)
    }

    fn patch_types(&self) -> Vec<&'static str> {
        let mut types = vec![
            "application/json-patch+json",
            "application/merge-patch+json",
        ];
        if self.kind.schema.is_none() {
            types.push("application/strategic-merge-patch+json");
        }
        types.push("application/apply-patch+yaml");
        types
    }
}

fn has(kind: &ServedKind, verb: &str) -> bool {
    kind.verbs.iter().any(|v| v == verb)
}

/// Adds the paths of one kind to `paths`.
pub(super) fn add_paths(
    paths: &mut Map<String, Value>,
    kind: &ServedKind,
    definition: &str,
    list_definition: &str,
    flavour: Flavour,
) {
    let op = Op {
        kind,
        flavour,
        definition,
        list_definition,
    };
    let prefix = if kind.group.is_empty() {
        format!("/api/{}", kind.version)
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    };
    let scope = if kind.namespaced { "Namespaced" } else { "" };
    let base = if kind.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural)
    } else {
        format!("{prefix}/{}", kind.plural)
    };
    let id = |verb: &str, suffix: &str| {
        format!(
            "{verb}{}{scope}{}{suffix}",
            operation_prefix(&kind.group, &kind.version),
            kind.kind
        )
    };
    let ns_param = || {
        path_param(
            flavour,
            "namespace",
            "object name and auth scope, such as for teams and projects",
        )
    };
    let name_param = || path_param(flavour, "name", &format!("name of the {}", kind.kind));
    let mut collection = Map::new();
    if has(kind, "list") {
        collection.insert(
            "get".into(),
            op.operation(
                id("list", ""),
                format!("list or watch objects of kind {}", kind.kind),
                "list",
                Vec::new(),
                None,
                op.list_definition,
            ),
        );
    }
    if has(kind, "create") {
        collection.insert(
            "post".into(),
            op.operation(
                id("create", ""),
                format!("create a {}", kind.kind),
                "post",
                write_params(flavour, false),
                Some(vec!["*/*"]),
                op.definition,
            ),
        );
    }
    if has(kind, "deletecollection") {
        collection.insert(
            "delete".into(),
            op.operation(
                id("deleteCollection", ""),
                format!("delete collection of {}", kind.kind),
                "deletecollection",
                Vec::new(),
                None,
                "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
            ),
        );
    }
    if !collection.is_empty() {
        if kind.namespaced {
            collection.insert("parameters".into(), json!([ns_param()]));
        }
        paths.insert(base.clone(), Value::Object(collection));
    }
    let mut item = Map::new();
    if has(kind, "get") {
        item.insert(
            "get".into(),
            op.operation(
                id("read", ""),
                format!("read the specified {}", kind.kind),
                "get",
                Vec::new(),
                None,
                op.definition,
            ),
        );
    }
    if has(kind, "update") {
        item.insert(
            "put".into(),
            op.operation(
                id("replace", ""),
                format!("replace the specified {}", kind.kind),
                "put",
                write_params(flavour, false),
                Some(vec!["*/*"]),
                op.definition,
            ),
        );
    }
    if has(kind, "patch") {
        item.insert(
            "patch".into(),
            op.operation(
                id("patch", ""),
                format!("partially update the specified {}", kind.kind),
                "patch",
                write_params(flavour, true),
                Some(op.patch_types()),
                op.definition,
            ),
        );
    }
    if has(kind, "delete") {
        item.insert(
            "delete".into(),
            op.operation(
                id("delete", ""),
                format!("delete a {}", kind.kind),
                "delete",
                Vec::new(),
                None,
                "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
            ),
        );
    }
    let mut item_params = vec![name_param()];
    if kind.namespaced {
        item_params.push(ns_param());
    }
    if !item.is_empty() {
        item.insert("parameters".into(), Value::Array(item_params.clone()));
        paths.insert(format!("{base}/{{name}}"), Value::Object(item));
    }
    for sub in &kind.subresources {
        if sub != "status" && sub != "scale" {
            continue;
        }
        let (sub_def, title) = if sub == "scale" {
            ("io.k8s.api.autoscaling.v1.Scale", "Scale")
        } else {
            (definition, "Status")
        };
        let sub_op = Op {
            kind,
            flavour,
            definition: sub_def,
            list_definition,
        };
        let mut ops = Map::new();
        ops.insert(
            "get".into(),
            sub_op.operation(
                id("read", title),
                format!("read {sub} of the specified {}", kind.kind),
                "get",
                Vec::new(),
                None,
                sub_def,
            ),
        );
        ops.insert(
            "put".into(),
            sub_op.operation(
                id("replace", title),
                format!("replace {sub} of the specified {}", kind.kind),
                "put",
                write_params(flavour, false),
                Some(vec!["*/*"]),
                sub_def,
            ),
        );
        ops.insert(
            "patch".into(),
            sub_op.operation(
                id("patch", title),
                format!("partially update {sub} of the specified {}", kind.kind),
                "patch",
                write_params(flavour, true),
                Some(sub_op.patch_types()),
                sub_def,
            ),
        );
        ops.insert("parameters".into(), Value::Array(item_params.clone()));
        paths.insert(format!("{base}/{{name}}/{sub}"), Value::Object(ops));
    }
    if kind.namespaced && has(kind, "list") {
        let mut all = Map::new();
        all.insert(
            "get".into(),
            op.operation(
                format!(
                    "list{}{}ForAllNamespaces",
                    operation_prefix(&kind.group, &kind.version),
                    kind.kind
                ),
                format!("list or watch objects of kind {}", kind.kind),
                "list",
                Vec::new(),
                None,
                op.list_definition,
            ),
        );
        paths.insert(format!("{prefix}/{}", kind.plural), Value::Object(all));
    }
}
