//! Type information for served objects: a [`SchemaIndex`] built from OpenAPI definitions.
//!
//! Built-in kinds come from the project's typed API (k8s-openapi `v1_33`, its `schemars`
//! definitions) with the `x-kubernetes-*` extensions that those lack (patch strategies, merge
//! keys, list and map types, group-version-kinds) merged in from upstream's published v1.33
//! definitions, vendored in `apiserver/openapi-data/`. Custom resources get an index from their
//! CRD's structural schema ([`SchemaIndex::from_crd_schema`]); `metadata` resolves into the
//! built-in `ObjectMeta`.
//!
//! A [`TypeRef`] walks field paths (properties, items, additionalProperties) and answers what the
//! patch, apply and field-validation code needs. Known deviations from upstream: `List`
//! definitions are synthesised generically from their item kind (k8s-openapi has no schema for
//! them), so their descriptions are ours; `required` never lists `metadata` on kinds.

mod builtin;
mod compile;
#[cfg(test)]
mod tests;
mod types;

use serde_json::Value;

pub use types::{
    BuiltinKind, Gvk, ListType, MapType, PatchStrategy, SchemaError, SchemaIndex, TypeKind,
};
use types::{Ext, NodeId, Shape};

impl SchemaIndex {
    /// The index of every built-in kind the project knows (built once, at first use).
    pub fn builtin() -> Result<&'static SchemaIndex, SchemaError> {
        match &*builtin::BUILTIN {
            Ok(index) => Ok(index),
            Err(e) => Err(SchemaError::EmbeddedData(e.clone())),
        }
    }

    /// An index for one version of a CRD from its `openAPIV3Schema` (structural schema).
    ///
    /// `apiVersion`, `kind` and `metadata` are always known at the root, as upstream prunes.
    pub fn from_crd_schema(gvk: Gvk, schema: &Value) -> Result<SchemaIndex, SchemaError> {
        let base = SchemaIndex::builtin()?;
        compile::compile_crd(base, gvk, schema)
    }

    /// The type of a kind, if this index knows it.
    pub fn type_for_gvk(&self, gvk: &Gvk) -> Option<TypeRef<'_>> {
        self.kinds
            .get(gvk)
            .map(|&id| TypeRef::resolve(self, id, Ext::default()))
    }

    /// The type of a named definition (e.g. `io.k8s.api.core.v1.PodSpec`).
    pub fn type_for_definition(&self, name: &str) -> Option<TypeRef<'_>> {
        self.named
            .get(name)
            .map(|&id| TypeRef::resolve(self, id, Ext::default()))
    }

    /// The root type of a CRD index (None for the built-in index).
    pub fn root(&self) -> Option<TypeRef<'_>> {
        self.root
            .map(|id| TypeRef::resolve(self, id, Ext::default()))
    }

    /// The served OpenAPI definitions (v2 form, refs `#/definitions/<name>`), built-ins only.
    pub fn definitions(&self) -> &serde_json::Map<String, Value> {
        &self.definitions
    }

    /// The built-in kinds with their REST facts (empty for CRD indexes).
    pub fn builtin_kinds(&self) -> &[BuiltinKind] {
        &self.builtin_kinds
    }

    /// The built-in kind record for a group-version-kind.
    pub fn builtin_kind(&self, gvk: &Gvk) -> Option<&BuiltinKind> {
        self.builtin_kinds
            .iter()
            .find(|k| k.group == gvk.group && k.version == gvk.version && k.kind == gvk.kind)
    }
}

/// A resolved position in a schema; cheap to clone. `Untyped` accepts anything.
#[derive(Debug, Clone)]
pub struct TypeRef<'a> {
    index: Option<&'a SchemaIndex>,
    node: NodeId,
    ext: Ext,
}

impl<'a> TypeRef<'a> {
    /// A type about which nothing is known: objects merge field-wise, lists are atomic.
    pub fn untyped() -> Self {
        TypeRef {
            index: None,
            node: 0,
            ext: Ext::default(),
        }
    }

    fn resolve(mut index: &'a SchemaIndex, mut id: NodeId, mut ext: Ext) -> TypeRef<'a> {
        // Definitions may refer to each other in cycles (JSONSchemaProps); a bounded walk
        // guards against a malformed self-reference.
        for _ in 0..64 {
            let Some(node) = index.nodes.get(id) else {
                return TypeRef::untyped_with(ext);
            };
            ext.fill_from(&node.ext);
            match node.shape {
                Shape::Ref(next) => id = next,
                Shape::Base(next) => match index.base {
                    Some(base) => {
                        index = base;
                        id = next;
                    }
                    None => return TypeRef::untyped_with(ext),
                },
                _ => {
                    return TypeRef {
                        index: Some(index),
                        node: id,
                        ext,
                    };
                }
            }
        }
        TypeRef::untyped_with(ext)
    }

    fn untyped_with(ext: Ext) -> Self {
        TypeRef {
            index: None,
            node: 0,
            ext,
        }
    }

    fn shape(&self) -> Option<&'a Shape> {
        self.index
            .and_then(|index| index.nodes.get(self.node))
            .map(|n| &n.shape)
    }

    /// What kind of value this type describes.
    pub fn kind(&self) -> TypeKind {
        match self.shape() {
            None | Some(Shape::Untyped) | Some(Shape::Ref(_)) | Some(Shape::Base(_)) => {
                TypeKind::Untyped
            }
            Some(Shape::Scalar(kind)) => *kind,
            Some(Shape::Object { .. }) => TypeKind::Object,
            Some(Shape::Array { .. }) => TypeKind::Array,
        }
    }

    /// True for a type about which nothing is known.
    pub fn is_untyped(&self) -> bool {
        self.kind() == TypeKind::Untyped
    }

    /// The type of field `name` of an object: a declared property, else the
    /// additionalProperties type, else untyped when unknown fields are preserved; None when
    /// the field is unknown (strict decoding would reject it).
    pub fn field(&self, name: &str) -> Option<TypeRef<'a>> {
        match self.shape() {
            Some(Shape::Object {
                props,
                additional,
                preserve_unknown,
            }) => {
                let index = self.index?;
                if let Some(&id) = props.get(name) {
                    return Some(TypeRef::resolve(index, id, Ext::default()));
                }
                if let Some(id) = additional {
                    return Some(TypeRef::resolve(index, *id, Ext::default()));
                }
                if *preserve_unknown || self.ext.embedded_resource && is_embedded_meta(name) {
                    return Some(TypeRef::untyped());
                }
                None
            }
            Some(Shape::Scalar(_)) | Some(Shape::Array { .. }) => None,
            _ => Some(TypeRef::untyped()),
        }
    }

    /// The element type of an array (untyped for an untyped value, None for non-arrays).
    pub fn items(&self) -> Option<TypeRef<'a>> {
        match self.shape() {
            Some(Shape::Array { items }) => {
                let index = self.index?;
                Some(TypeRef::resolve(index, *items, Ext::default()))
            }
            Some(Shape::Scalar(_)) | Some(Shape::Object { .. }) => None,
            _ => Some(TypeRef::untyped()),
        }
    }

    /// Names of the declared properties of an object type, sorted.
    pub fn property_names(&self) -> Vec<&'a str> {
        match self.shape() {
            Some(Shape::Object { props, .. }) => props.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// True when `name` is a declared property of this object type.
    pub fn has_property(&self, name: &str) -> bool {
        matches!(self.shape(), Some(Shape::Object { props, .. }) if props.contains_key(name))
    }

    /// True when the object has declared properties (a struct rather than a map).
    pub fn is_struct(&self) -> bool {
        matches!(self.shape(), Some(Shape::Object { props, .. }) if !props.is_empty())
    }

    /// True when the object is a map (`additionalProperties`) rather than a struct.
    pub fn is_map(&self) -> bool {
        matches!(
            self.shape(),
            Some(Shape::Object { props, additional: Some(_), .. }) if props.is_empty()
        )
    }

    /// `x-kubernetes-preserve-unknown-fields` (or untyped): unknown fields are kept.
    pub fn preserves_unknown_fields(&self) -> bool {
        match self.shape() {
            Some(Shape::Object {
                preserve_unknown, ..
            }) => *preserve_unknown,
            Some(Shape::Scalar(_)) | Some(Shape::Array { .. }) => false,
            _ => true,
        }
    }

    /// The list type (arrays default to atomic).
    pub fn list_type(&self) -> ListType {
        self.ext.list_type.unwrap_or(ListType::Atomic)
    }

    /// The declared list type, if any.
    pub fn declared_list_type(&self) -> Option<ListType> {
        self.ext.list_type
    }

    /// `x-kubernetes-list-map-keys` of a map-type list (empty otherwise).
    pub fn list_map_keys(&self) -> &[String] {
        self.ext.list_map_keys.as_deref().unwrap_or(&[])
    }

    /// The map type (objects default to granular).
    pub fn map_type(&self) -> MapType {
        self.ext.map_type.unwrap_or(MapType::Granular)
    }

    /// The strategic-merge patch strategy of this field.
    pub fn patch_strategy(&self) -> PatchStrategy {
        self.ext.patch_strategy.unwrap_or_default()
    }

    /// The strategic-merge merge key of a list of objects.
    pub fn patch_merge_key(&self) -> Option<&str> {
        self.ext.merge_key.as_deref()
    }

    /// `x-kubernetes-embedded-resource`: an object carrying apiVersion/kind/metadata.
    pub fn is_embedded_resource(&self) -> bool {
        self.ext.embedded_resource
    }

    /// Walks a dotted path of field names (`spec.template.spec`), looking through arrays.
    pub fn path(&self, path: &str) -> Option<TypeRef<'a>> {
        let mut current = self.clone();
        for segment in path.split('.').filter(|s| !s.is_empty()) {
            while current.kind() == TypeKind::Array {
                current = current.items()?;
            }
            current = current.field(segment)?;
        }
        Some(current)
    }
}

fn is_embedded_meta(name: &str) -> bool {
    matches!(name, "apiVersion" | "kind" | "metadata")
}
