//! Compiles OpenAPI/JSON schemas (definitions with `$ref`s, or inline CRD schemas) into nodes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::types::{
    Ext, Gvk, ListType, MapType, Node, NodeId, PatchStrategy, SchemaError, SchemaIndex, Shape,
    TypeKind,
};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// How objects without properties or additionalProperties are read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum EmptyObject {
    /// Built-in opaque types (RawExtension, FieldsV1, JSON): anything goes.
    Opaque,
    /// Structural CRD schemas: no field is known unless unknown fields are preserved.
    Closed,
}

pub(super) struct Compiler<'d> {
    pub(super) nodes: Vec<Node>,
    pub(super) named: HashMap<String, NodeId>,
    definitions: &'d serde_json::Map<String, Value>,
    empty_object: EmptyObject,
    base: Option<&'static SchemaIndex>,
}

impl<'d> Compiler<'d> {
    pub(super) fn new(
        definitions: &'d serde_json::Map<String, Value>,
        empty_object: EmptyObject,
        base: Option<&'static SchemaIndex>,
    ) -> Self {
        Compiler {
            nodes: Vec::new(),
            named: HashMap::new(),
            definitions,
            empty_object,
            base,
        }
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// The node of a named definition, compiling it on first use (cycles resolve through the
    /// placeholder inserted before compiling the body).
    pub(super) fn named(&mut self, name: &str) -> Result<NodeId, SchemaError> {
        if let Some(&id) = self.named.get(name) {
            return Ok(id);
        }
        let schema = self
            .definitions
            .get(name)
            .ok_or_else(|| SchemaError::UnresolvedRef(name.to_owned()))?;
        let id = self.push(Node {
            ext: Ext::default(),
            shape: Shape::Untyped,
        });
        self.named.insert(name.to_owned(), id);
        let node = self.compile_body(schema, &format!("/definitions/{name}"))?;
        self.nodes[id] = node;
        Ok(id)
    }

    /// Compiles a schema that may be a `$ref` (with sibling extensions) or inline.
    pub(super) fn node(&mut self, schema: &Value, path: &str) -> Result<NodeId, SchemaError> {
        if let Some(target) = ref_target(schema) {
            let ext = parse_ext(schema, path)?;
            let id = self.resolve_ref(target)?;
            if ext_is_empty(&ext) {
                return Ok(id);
            }
            return Ok(self.push(Node {
                ext,
                shape: Shape::Ref(id),
            }));
        }
        let node = self.compile_body(schema, path)?;
        Ok(self.push(node))
    }

    fn resolve_ref(&mut self, target: &str) -> Result<NodeId, SchemaError> {
        let name = target
            .strip_prefix("#/definitions/")
            .or_else(|| target.strip_prefix("#/components/schemas/"))
            .ok_or_else(|| SchemaError::UnresolvedRef(target.to_owned()))?;
        self.named(name)
    }

    fn compile_body(&mut self, schema: &Value, path: &str) -> Result<Node, SchemaError> {
        let ext = parse_ext(schema, path)?;
        let Some(obj) = schema.as_object() else {
            // `true`/`false` schemas: accept anything.
            return Ok(Node {
                ext,
                shape: Shape::Untyped,
            });
        };
        if flag(schema, "x-kubernetes-int-or-string") {
            return Ok(Node {
                ext,
                shape: Shape::Scalar(TypeKind::IntOrString),
            });
        }
        let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
        let ty = obj.get("type").and_then(type_name);
        let shape = match ty {
            Some("string") => Shape::Scalar(TypeKind::String),
            Some("integer") => Shape::Scalar(TypeKind::Integer),
            Some("number") => Shape::Scalar(TypeKind::Number),
            Some("boolean") => Shape::Scalar(TypeKind::Boolean),
            Some("array") => {
                let items = match obj.get("items") {
                    Some(items) => self.node(items, &format!("{path}/items"))?,
                    None => self.push(Node {
                        ext: Ext::default(),
                        shape: Shape::Untyped,
                    }),
                };
                Shape::Array { items }
            }
            Some("object") => self.object_shape(obj, preserve, ext.embedded_resource, path)?,
            Some(other) => {
                return Err(SchemaError::Invalid {
                    path: path.to_owned(),
                    message: format!("unsupported type {other:?}"),
                });
            }
            None if obj.contains_key("properties") => {
                self.object_shape(obj, preserve, ext.embedded_resource, path)?
            }
            None => Shape::Untyped,
        };
        Ok(Node { ext, shape })
    }

    fn object_shape(
        &mut self,
        obj: &serde_json::Map<String, Value>,
        preserve: bool,
        embedded: bool,
        path: &str,
    ) -> Result<Shape, SchemaError> {
        let mut props = BTreeMap::new();
        if let Some(Value::Object(properties)) = obj.get("properties") {
            for (name, sub) in properties {
                let id = self.node(sub, &format!("{path}/properties/{name}"))?;
                props.insert(name.clone(), id);
            }
        }
        let additional = match obj.get("additionalProperties") {
            Some(Value::Bool(false)) | None => None,
            Some(sub) => Some(self.node(sub, &format!("{path}/additionalProperties"))?),
        };
        if embedded {
            self.add_resource_fields(&mut props)?;
        }
        if props.is_empty() && additional.is_none() && self.empty_object == EmptyObject::Opaque {
            return Ok(Shape::Untyped);
        }
        Ok(Shape::Object {
            props,
            additional,
            preserve_unknown: preserve,
        })
    }

    /// apiVersion, kind and metadata (as ObjectMeta) exist on every resource, even when a
    /// CRD schema does not declare them.
    pub(super) fn add_resource_fields(
        &mut self,
        props: &mut BTreeMap<String, NodeId>,
    ) -> Result<(), SchemaError> {
        for name in ["apiVersion", "kind"] {
            if !props.contains_key(name) {
                let id = self.push(Node {
                    ext: Ext::default(),
                    shape: Shape::Scalar(TypeKind::String),
                });
                props.insert(name.to_owned(), id);
            }
        }
        let shape = match self.base {
            Some(base) => match base.named.get(OBJECT_META) {
                Some(&id) => Shape::Base(id),
                None => return Err(SchemaError::UnresolvedRef(OBJECT_META.to_owned())),
            },
            None => Shape::Ref(self.named(OBJECT_META)?),
        };
        let id = self.push(Node {
            ext: Ext::default(),
            shape,
        });
        // Upstream always reads metadata as ObjectMeta, whatever a CRD schema says about it.
        props.insert("metadata".to_owned(), id);
        Ok(())
    }
}

/// Builds the index of one CRD version.
pub(super) fn compile_crd(
    base: &'static SchemaIndex,
    gvk: Gvk,
    schema: &Value,
) -> Result<SchemaIndex, SchemaError> {
    let empty = serde_json::Map::new();
    let mut compiler = Compiler::new(&empty, EmptyObject::Closed, Some(base));
    let mut root = compiler.compile_body(schema, "")?;
    match &mut root.shape {
        Shape::Object { props, .. } => {
            let mut fields = std::mem::take(props);
            compiler.add_resource_fields(&mut fields)?;
            if let Shape::Object { props, .. } = &mut root.shape {
                *props = fields;
            }
        }
        _ => {
            let mut props = BTreeMap::new();
            compiler.add_resource_fields(&mut props)?;
            root.shape = Shape::Object {
                props,
                additional: None,
                preserve_unknown: flag(schema, "x-kubernetes-preserve-unknown-fields"),
            };
        }
    }
    let root_id = compiler.push(root);
    let mut kinds = HashMap::new();
    kinds.insert(gvk, root_id);
    Ok(SchemaIndex {
        nodes: compiler.nodes,
        named: compiler.named,
        kinds,
        root: Some(root_id),
        base: Some(base),
        definitions: serde_json::Map::new(),
        builtin_kinds: Vec::new(),
    })
}

fn ref_target(schema: &Value) -> Option<&str> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return Some(r);
    }
    // OpenAPI v3 wraps refs with siblings as `allOf: [{$ref}]`.
    match schema.get("allOf").and_then(Value::as_array) {
        Some(all) if all.len() == 1 => all[0].get("$ref").and_then(Value::as_str),
        _ => None,
    }
}

fn type_name(ty: &Value) -> Option<&str> {
    match ty {
        Value::String(s) => Some(s),
        // `["string", "null"]` style types: the first non-null one.
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    }
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn ext_is_empty(ext: &Ext) -> bool {
    ext.patch_strategy.is_none()
        && ext.merge_key.is_none()
        && ext.list_type.is_none()
        && ext.list_map_keys.is_none()
        && ext.map_type.is_none()
        && !ext.embedded_resource
}

fn invalid(path: &str, message: String) -> SchemaError {
    SchemaError::Invalid {
        path: path.to_owned(),
        message,
    }
}

/// Reads the `x-kubernetes-*` extensions that shape merging.
fn parse_ext(schema: &Value, path: &str) -> Result<Ext, SchemaError> {
    let mut ext = Ext::default();
    if let Some(v) = schema.get("x-kubernetes-patch-strategy") {
        let s = v
            .as_str()
            .ok_or_else(|| invalid(path, "x-kubernetes-patch-strategy must be a string".into()))?;
        let mut strategy = PatchStrategy::default();
        for part in s.split(',').map(str::trim) {
            match part {
                "merge" => strategy.merge = true,
                "replace" => strategy.replace = true,
                "retainKeys" => strategy.retain_keys = true,
                "" => {}
                other => {
                    return Err(invalid(path, format!("unknown patch strategy {other:?}")));
                }
            }
        }
        ext.patch_strategy = Some(strategy);
    }
    if let Some(v) = schema.get("x-kubernetes-patch-merge-key") {
        let s = v
            .as_str()
            .ok_or_else(|| invalid(path, "x-kubernetes-patch-merge-key must be a string".into()))?;
        ext.merge_key = Some(Arc::from(s));
    }
    if let Some(v) = schema.get("x-kubernetes-list-type") {
        ext.list_type = Some(match v.as_str() {
            Some("atomic") => ListType::Atomic,
            Some("set") => ListType::Set,
            Some("map") => ListType::Map,
            _ => return Err(invalid(path, format!("invalid x-kubernetes-list-type {v}"))),
        });
    }
    if let Some(v) = schema.get("x-kubernetes-list-map-keys") {
        let keys = v
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|k| k.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| {
                invalid(
                    path,
                    "x-kubernetes-list-map-keys must be a list of strings".into(),
                )
            })?;
        ext.list_map_keys = Some(Arc::from(keys));
    }
    if let Some(v) = schema.get("x-kubernetes-map-type") {
        ext.map_type = Some(match v.as_str() {
            Some("atomic") => MapType::Atomic,
            Some("granular") => MapType::Granular,
            _ => return Err(invalid(path, format!("invalid x-kubernetes-map-type {v}"))),
        });
    }
    ext.embedded_resource = flag(schema, "x-kubernetes-embedded-resource");
    Ok(ext)
}
