//! `managedFields` bookkeeping of ordinary writes, and the schema type of a resource's objects.

use serde_json::Value;

use super::actor::Actor;
use crate::field_manager::{self, Writer};
use crate::registry::ResourceDef;
use crate::schema::{Gvk, SchemaIndex, TypeRef};

/// Runs `f` with the schema type of `def`'s objects (untyped when none is known).
pub fn with_type<R>(def: &ResourceDef, f: impl FnOnce(&TypeRef<'_>) -> R) -> R {
    if let Some(idx) = def.crd.as_ref().and_then(|c| c.schema_index.as_ref()) {
        if let Some(t) = idx.root() {
            return f(&t);
        }
    } else if let Ok(idx) = SchemaIndex::builtin()
        && let Some(t) = idx.type_for_gvk(&Gvk::new(&def.group, &def.version, &def.kind))
    {
        return f(&t);
    }
    f(&TypeRef::untyped())
}

/// Fields a write through `subresource` does not own.
pub fn reset_fields(def: &ResourceDef, subresource: Option<&str>) -> &'static [&'static str] {
    match subresource {
        Some("status") => &["spec", "metadata"],
        Some(_) => &[],
        None if def.has_status => &["status"],
        None => &[],
    }
}

/// Records the writer of a create/update in `managedFields` (operation `Update`).
pub fn record_update(
    def: &ResourceDef,
    actor: &Actor,
    old: Option<&Value>,
    new: &mut Value,
    subresource: Option<&str>,
) {
    if actor.applying {
        return;
    }
    let api_version = def.api_version();
    let writer = Writer {
        manager: &actor.manager,
        api_version: &api_version,
        subresource,
        reset_fields: reset_fields(def, subresource),
        now: jiff::Timestamp::now(),
    };
    let res = with_type(def, |t| {
        field_manager::update_managed_fields(old, new, t, &writer)
    });
    if let Err(e) = res {
        tracing::debug!(error = %e, "managedFields of the previous object were unreadable; starting afresh");
        if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        let _ = with_type(def, |t| {
            field_manager::update_managed_fields(None, new, t, &writer)
        });
    }
}
