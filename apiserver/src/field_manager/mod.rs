//! The field manager: server-side apply and `metadata.managedFields` (`FieldsV1`), as upstream's
//! `fieldmanager` package.
//!
//! [`apply`] merges an apply configuration into the live object (list-map items by key, set
//! items by value, atomic lists/maps replaced), records the applier's fields as an `Apply`
//! manager, removes fields it applied before and no longer applies unless another manager owns
//! them, and reports conflicts (another manager owns a field whose value the apply changes) as
//! upstream's 409 with `FieldManagerConflict` causes; `force` takes the fields over.
//! [`update_managed_fields`] records non-apply writes (create/update/patch) as `Update`
//! managers: the writer gains what it added or changed, others lose it. Fields upstream never
//! tracks (apiVersion, kind, metadata name/namespace/uid/resourceVersion/generation/
//! creationTimestamp/selfLink/managedFields) and the caller's reset fields (e.g. `status` on
//! the main resource) are excluded. Known deviations: the cap of 10 `Update` managers
//! (`ancient-changes`) is not applied; a missing list-map key field defaults only for
//! `protocol` (TCP); new list-map items are appended after live ones.

mod error;
mod fieldpath;
#[cfg(test)]
mod tests;
mod walk;

use serde_json::{Map, Value, json};

use crate::schema::TypeRef;

pub use error::{ApplyError, Conflict};
pub use fieldpath::{FieldSet, Path, PathElement, from_fields_v1, path_string, to_fields_v1};

/// Who writes and how.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// `fieldManager` (or the user agent's default, e.g. `kubectl-edit`).
    pub manager: &'a str,
    /// The object's `apiVersion` as written (`apps/v1`).
    pub api_version: &'a str,
    /// `status`, `scale`... for subresource writes.
    pub subresource: Option<&'a str>,
    /// Top-level fields the endpoint resets and nobody owns through it (`status` for the main
    /// resource of kinds with a status subresource; `spec`, for example, on `status`).
    pub reset_fields: &'a [&'a str],
    /// The write's time (managed-field timestamps, RFC 3339 seconds).
    pub now: jiff::Timestamp,
}

#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    subresource: String,
    time: Option<String>,
    set: FieldSet,
}

impl Entry {
    fn same_manager(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == "Apply" || self.api_version == other.api_version)
    }

    /// Upstream's `printManager`.
    fn printed(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            out.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), to_fields_v1(&self.set));
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }
}

fn decode_entries(obj: Option<&Value>) -> Result<Vec<Entry>, ApplyError> {
    let Some(list) = obj.and_then(|o| o.pointer("/metadata/managedFields")) else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return Err(ApplyError::BadManagedFields(
            "metadata.managedFields must be a list".into(),
        ));
    };
    let mut entries = Vec::new();
    for item in list {
        let s = |k: &str| {
            item.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let set = match item.get("fieldsV1") {
            Some(f) => from_fields_v1(f)?,
            None => FieldSet::new(),
        };
        entries.push(Entry {
            manager: s("manager"),
            operation: s("operation"),
            api_version: s("apiVersion"),
            subresource: s("subresource"),
            time: item.get("time").and_then(Value::as_str).map(str::to_owned),
            set,
        });
    }
    Ok(entries)
}

/// Paths upstream never tracks, plus the writer's reset fields.
fn strip(set: &mut FieldSet, reset_fields: &[&str]) {
    const META: [&str; 9] = [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ];
    set.retain(|path| {
        let field = |i: usize| match path.get(i) {
            Some(PathElement::Field(f)) => Some(f.as_str()),
            _ => None,
        };
        match field(0) {
            Some("apiVersion") | Some("kind") => false,
            Some("metadata") => !field(1).is_some_and(|f| META.contains(&f)),
            Some(top) => !reset_fields.contains(&top),
            None => true,
        }
    });
}

fn field_set(value: &Value, ty: &TypeRef<'_>, reset: &[&str]) -> FieldSet {
    let mut set = FieldSet::new();
    walk::to_field_set(value, ty, &mut Vec::new(), &mut set);
    strip(&mut set, reset);
    set
}

fn timestamp(now: jiff::Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Upstream's managedFields order: operation, time, manager, apiVersion, subresource.
fn write_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        (
            &a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    let list: Vec<Value> = entries.iter().map(Entry::to_json).collect();
    if let Some(meta) = obj.as_object_mut().map(|o| {
        o.entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()))
    }) && let Some(meta) = meta.as_object_mut()
    {
        if list.is_empty() {
            meta.shift_remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Takes the fields changed between `live` and `new` away from the other managers; with
/// `force` false, any overlap with what `writer_idx` changes is a conflict instead.
fn settle(
    entries: &mut [Entry],
    writer_idx: usize,
    comparison: &walk::Comparison,
    force: bool,
) -> Result<(), ApplyError> {
    let changed: FieldSet = comparison
        .modified
        .union(&comparison.added)
        .cloned()
        .collect();
    let mut conflicts = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if i == writer_idx {
            continue;
        }
        for path in entry.set.intersection(&changed) {
            conflicts.push(Conflict {
                manager: entry.printed(),
                field: path_string(path),
            });
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| (&a.manager, &a.field).cmp(&(&b.manager, &b.field)));
        return Err(ApplyError::Conflict(conflicts));
    }
    for (i, entry) in entries.iter_mut().enumerate() {
        if i == writer_idx {
            continue;
        }
        entry
            .set
            .retain(|p| !changed.contains(p) && !comparison.removed.contains(p));
    }
    Ok(())
}

fn writer_index(entries: &mut Vec<Entry>, template: Entry) -> usize {
    match entries.iter().position(|e| e.same_manager(&template)) {
        Some(i) => i,
        None => {
            entries.push(template);
            entries.len() - 1
        }
    }
}

/// Server-side apply of `config` onto `live` (None: the object is created by the apply).
/// Returns the new object with `metadata.managedFields` updated.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    schema: &TypeRef<'_>,
    writer: &Writer<'_>,
    force: bool,
) -> Result<Value, ApplyError> {
    if !config.is_object() {
        return Err(ApplyError::InvalidConfig(
            "apply configuration must be an object".into(),
        ));
    }
    let empty = json!({});
    let live_value = live.unwrap_or(&empty);
    let mut entries = decode_entries(live)?;
    if live.is_some() && entries.is_empty() {
        // Upstream attributes what existed before the first apply to this manager.
        let set = field_set(live_value, schema, writer.reset_fields);
        entries.push(Entry {
            manager: "before-first-apply".into(),
            operation: "Update".into(),
            api_version: writer.api_version.into(),
            subresource: String::new(),
            time: Some(timestamp(writer.now)),
            set,
        });
    }
    let mut config = config.clone();
    if let Some(meta) = config.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
    let mut merged = walk::merge(live_value, &config, schema);
    let config_set = field_set(&config, schema, writer.reset_fields);
    let idx = writer_index(
        &mut entries,
        Entry {
            manager: writer.manager.into(),
            operation: "Apply".into(),
            api_version: writer.api_version.into(),
            subresource: writer.subresource.unwrap_or_default().into(),
            time: None,
            set: FieldSet::new(),
        },
    );
    let last_set = std::mem::replace(&mut entries[idx].set, config_set);
    entries[idx].api_version = writer.api_version.into();
    prune(&mut merged, &last_set, &entries, schema);
    let mut comparison = walk::compare(live_value, &merged, schema);
    for set in [
        &mut comparison.added,
        &mut comparison.modified,
        &mut comparison.removed,
    ] {
        strip(set, writer.reset_fields);
    }
    settle(&mut entries, idx, &comparison, force)?;
    entries[idx].time = Some(timestamp(writer.now));
    write_entries(&mut merged, entries);
    Ok(merged)
}

/// Removes what the applier owned before and no longer applies, unless someone owns it (or
/// something under it).
fn prune(merged: &mut Value, last_set: &FieldSet, entries: &[Entry], schema: &TypeRef<'_>) {
    let owned = |path: &Path| {
        entries.iter().any(|e| {
            e.set
                .range(path.clone()..)
                .next()
                .is_some_and(|p| p.starts_with(path))
        })
    };
    let doomed: Vec<&Path> = last_set.iter().filter(|p| !owned(p)).collect();
    // Removing an item whole also removes its fields; removing its key fields first would
    // make the item unidentifiable.
    for path in &doomed {
        let inside_doomed = doomed
            .iter()
            .any(|other| other.len() < path.len() && path.starts_with(other));
        if !inside_doomed {
            walk::remove_path(merged, path, schema);
        }
    }
}

/// Records a non-apply write (create, update, patch; `operation` is `Update`) in `new`'s
/// `metadata.managedFields`. `old` is the object before the write (None on create).
pub fn update_managed_fields(
    old: Option<&Value>,
    new: &mut Value,
    schema: &TypeRef<'_>,
    writer: &Writer<'_>,
) -> Result<(), ApplyError> {
    // The client may send managedFields to rewrite them; otherwise (or on a subresource) the
    // live object's are kept.
    let sent = decode_entries(Some(new))?;
    let mut entries = if sent.is_empty() || writer.subresource.is_some() {
        decode_entries(old)?
    } else {
        sent
    };
    let empty = json!({});
    let mut comparison = walk::compare(old.unwrap_or(&empty), new, schema);
    for set in [
        &mut comparison.added,
        &mut comparison.modified,
        &mut comparison.removed,
    ] {
        strip(set, writer.reset_fields);
    }
    let idx = writer_index(
        &mut entries,
        Entry {
            manager: writer.manager.into(),
            operation: "Update".into(),
            api_version: writer.api_version.into(),
            subresource: writer.subresource.unwrap_or_default().into(),
            time: None,
            set: FieldSet::new(),
        },
    );
    settle(&mut entries, idx, &comparison, true)?;
    let entry = &mut entries[idx];
    entry.set.retain(|p| !comparison.removed.contains(p));
    entry.set.extend(comparison.modified.iter().cloned());
    entry.set.extend(comparison.added.iter().cloned());
    if !entry.set.is_empty() {
        entry.time = Some(timestamp(writer.now));
    }
    write_entries(new, entries);
    Ok(())
}
