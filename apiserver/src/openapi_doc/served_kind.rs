//! [`ServedKind`]: a served resource, as the OpenAPI document builder needs it.

use serde_json::Value;

/// A served resource, as the server's registry knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServedKind {
    /// API group ("" for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name.
    pub plural: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Verbs (`get`, `list`, `create`, `update`, `patch`, `delete`, `deletecollection`, ...).
    pub verbs: Vec<String>,
    /// Served subresources (`status`, `scale` get paths).
    pub subresources: Vec<String>,
    /// A CRD version's `openAPIV3Schema`; None for built-in kinds.
    pub schema: Option<Value>,
}
