//! Conversion between the stored form of an object and the version a resource serves.

use bytes::Bytes;
use serde_json::Value;

use crate::registry::ResourceDef;
use crate::store::StoredObject;

/// Whether stored objects must be converted for this group-version.
pub fn needs_conversion(def: &ResourceDef) -> bool {
    def.strategy.converts()
        || def
            .crd
            .as_ref()
            .is_some_and(|c| c.storage_version != def.version || c.defaults_on_read)
}

/// The JSON of a stored object as served by `def` (converted when the version differs).
pub fn render(def: &ResourceDef, so: &StoredObject) -> Bytes {
    if !needs_conversion(def) {
        return so.json.clone();
    }
    match so.value() {
        Ok(v) => Bytes::from(serde_json::to_vec(&to_served(def, v)).unwrap_or_default()),
        Err(_) => so.json.clone(),
    }
}

/// Converts a stored object to the served version.
pub fn to_served(def: &ResourceDef, mut v: Value) -> Value {
    if def.strategy.converts() {
        return def.strategy.to_served(v);
    }
    if let Some(c) = &def.crd {
        if let Some(o) = v.as_object_mut() {
            o.insert("apiVersion".into(), Value::String(def.api_version()));
        }
        if let Some(schema) = c.schema.as_ref().filter(|_| c.defaults_on_read) {
            crate::kinds::custom::apply_schema_defaults(schema, &mut v);
        }
    }
    v
}

/// Converts an object of the served version to its stored form.
pub fn to_stored(def: &ResourceDef, mut v: Value) -> Value {
    if def.strategy.converts() {
        return def.strategy.to_stored(v);
    }
    if let Some(c) = &def.crd
        && let Some(o) = v.as_object_mut()
    {
        o.insert(
            "apiVersion".into(),
            Value::String(format!("{}/{}", def.group, c.storage_version)),
        );
    }
    v
}
