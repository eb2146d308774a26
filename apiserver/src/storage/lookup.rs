//! Finding resources and reading objects in their served form.

use serde_json::Value;

use super::convert::to_served;
use crate::api::Api;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceDef;

/// The definition of a built-in resource (`group`, `resource`), in its first served version.
pub fn def(api: &Api, group: &str, resource: &str) -> ApiResult<std::sync::Arc<ResourceDef>> {
    api.registry
        .all()
        .into_iter()
        .find(|d| d.group == group && d.resource == resource)
        .ok_or_else(|| ApiError::internal(format!("resource {resource}.{group} is not served")))
}

/// Reads an object in its served form.
pub fn get(api: &Api, def: &ResourceDef, ns: &str, name: &str) -> Option<Value> {
    api.store
        .get(&def.storage, ns, name)
        .and_then(|o| o.value().ok())
        .map(|v| to_served(def, v))
}

/// Every stored object at `storage` (in `namespace`, when given), decoded.
pub fn list_values(api: &Api, storage: &str, namespace: Option<&str>) -> Vec<Value> {
    api.store
        .list(storage, namespace, None, None, |_, _| true)
        .items
        .iter()
        .filter_map(|so| so.value().ok())
        .collect()
}
