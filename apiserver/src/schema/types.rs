//! The compiled schema's types: group-version-kinds, nodes and their shapes, list and map
//! semantics, and the index holding them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

/// Errors building a schema index.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The vendored extension data is not valid JSON (a build defect).
    #[error("embedded OpenAPI extension data is invalid: {0}")]
    EmbeddedData(String),
    /// A `$ref` names a definition that does not exist.
    #[error("schema reference {0:?} does not resolve to a definition")]
    UnresolvedRef(String),
    /// A schema (or one of its extensions) has an unexpected shape.
    #[error("invalid schema at {path}: {message}")]
    Invalid {
        /// Where in the schema, as a JSON pointer.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    /// API group ("" for the core group).
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Pod`.
    pub kind: String,
}

impl Gvk {
    /// Builds a group-version-kind from its parts.
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Gvk {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    /// `apiVersion` as written in objects: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// `x-kubernetes-list-type`; lists without one are atomic, as in structured-merge-diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Items are unique scalars, merged by value.
    Set,
    /// Items are objects identified by `x-kubernetes-list-map-keys`.
    Map,
}

/// `x-kubernetes-map-type` (objects and maps default to granular).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapType {
    /// Each field is owned and merged separately.
    Granular,
    /// Replaced as a whole.
    Atomic,
}

/// `x-kubernetes-patch-strategy` of a field (strategic merge patch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PatchStrategy {
    /// `merge`: lists merge (by merge key for objects, by value for scalars).
    pub merge: bool,
    /// `replace`: the field is replaced as a whole.
    pub replace: bool,
    /// `retainKeys`: `$retainKeys` directives are honoured.
    pub retain_keys: bool,
}

/// The shape of a resolved type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    /// A string.
    String,
    /// An integer.
    Integer,
    /// A number.
    Number,
    /// A boolean.
    Boolean,
    /// `x-kubernetes-int-or-string`.
    IntOrString,
    /// An object with properties and/or additionalProperties.
    Object,
    /// An array.
    Array,
    /// Anything (opaque or unknown type): every field is accepted and merged structurally.
    Untyped,
}

pub(super) type NodeId = usize;

/// Extensions that travel with a field; outer (property-level) values win over inner ones.
#[derive(Debug, Clone, Default)]
pub(super) struct Ext {
    pub(super) patch_strategy: Option<PatchStrategy>,
    pub(super) merge_key: Option<Arc<str>>,
    pub(super) list_type: Option<ListType>,
    pub(super) list_map_keys: Option<Arc<[String]>>,
    pub(super) map_type: Option<MapType>,
    pub(super) embedded_resource: bool,
}

impl Ext {
    pub(super) fn fill_from(&mut self, inner: &Ext) {
        if self.patch_strategy.is_none() {
            self.patch_strategy = inner.patch_strategy;
        }
        if self.merge_key.is_none() {
            self.merge_key.clone_from(&inner.merge_key);
        }
        if self.list_type.is_none() {
            self.list_type = inner.list_type;
        }
        if self.list_map_keys.is_none() {
            self.list_map_keys.clone_from(&inner.list_map_keys);
        }
        if self.map_type.is_none() {
            self.map_type = inner.map_type;
        }
        self.embedded_resource |= inner.embedded_resource;
    }
}

#[derive(Debug, Clone)]
pub(super) enum Shape {
    /// Indirection to another node of the same index (a named definition).
    Ref(NodeId),
    /// Indirection into the built-in index (CRD `metadata` → `ObjectMeta`).
    Base(NodeId),
    Scalar(TypeKind),
    Object {
        props: BTreeMap<String, NodeId>,
        additional: Option<NodeId>,
        preserve_unknown: bool,
    },
    Array {
        items: NodeId,
    },
    Untyped,
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) ext: Ext,
    pub(super) shape: Shape,
}

/// Compiled type information for a set of definitions (built-ins) or one CRD version.
#[derive(Debug)]
pub struct SchemaIndex {
    pub(super) nodes: Vec<Node>,
    pub(super) named: HashMap<String, NodeId>,
    pub(super) kinds: HashMap<Gvk, NodeId>,
    pub(super) root: Option<NodeId>,
    pub(super) base: Option<&'static SchemaIndex>,
    pub(super) definitions: serde_json::Map<String, Value>,
    pub(super) builtin_kinds: Vec<BuiltinKind>,
}

/// REST facts about a built-in kind, from its typed definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinKind {
    /// API group ("" for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// The URL path segment (plural resource name, or the subresource name).
    pub plural: &'static str,
    /// Some(true) namespaced, Some(false) cluster-scoped, None for subresource-only kinds
    /// (Scale, Binding-like requests, Status...).
    pub namespaced: Option<bool>,
    /// The list kind, for listable kinds.
    pub list_kind: Option<&'static str>,
    /// The OpenAPI definition name, e.g. `io.k8s.api.core.v1.Pod`.
    pub definition: String,
}
