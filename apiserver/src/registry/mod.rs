//! The catalog of served resources: built-in kinds and the custom resources of established CRDs.

mod builtin;
pub mod crd;

use std::sync::{Arc, RwLock};

use serde_json::{Value, json};

pub use builtin::builtin_resources;
pub use crd::CrdServing;

/// Every verb of an ordinary stored resource.
pub const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A subresource of a resource (`pods/status`, `pods/log`, ...).
#[derive(Debug, Clone)]
pub struct Subresource {
    /// Name after the slash.
    pub name: &'static str,
    /// Kind returned (`Pod`, `Binding`, `Scale`...).
    pub kind: &'static str,
    /// Group of that kind ("" = same as the resource or core).
    pub group: &'static str,
    /// Version of that kind ("" = same as the resource).
    pub version: &'static str,
    /// Verbs it supports.
    pub verbs: &'static [&'static str],
}

/// One served resource in one group-version.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural resource name.
    pub resource: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Verbs on the main resource.
    pub verbs: Vec<&'static str>,
    /// Subresources.
    pub subresources: Vec<Subresource>,
    /// Storage key shared by all versions of the resource (e.g. `apps/deployments`).
    pub storage: String,
    /// Selectable fields beyond `metadata.name`/`metadata.namespace`.
    pub fields: Vec<String>,
    /// Whether it has a `status` that only the status subresource writes.
    pub has_status: bool,
    /// Whether `metadata.generation` tracks spec changes.
    pub generation: bool,
    /// Custom-resource serving details, for CRD-served resources.
    pub crd: Option<Arc<CrdServing>>,
}

impl ResourceDef {
    /// `apiVersion` string of this group-version.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether the resource is stored (as opposed to virtual, create-only resources like
    /// SelfSubjectAccessReview).
    pub fn is_stored(&self) -> bool {
        self.verbs.contains(&"get")
    }

    /// Whether the resource supports `verb`.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// A subresource by name.
    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// The selectable field paths, as stored in `StoredObject::fields`.
    pub fn field_paths(&self) -> Vec<&str> {
        self.fields.iter().map(String::as_str).collect()
    }

    /// Whether `field` can be used in a field selector.
    pub fn field_supported(&self, field: &str) -> bool {
        field == "metadata.name"
            || field == "metadata.namespace"
            || self.fields.iter().any(|f| f == field)
    }

    /// The entry of this resource in an `APIResourceList`, followed by its subresources.
    pub fn discovery_entries(&self) -> Vec<Value> {
        let mut main = json!({
            "name": self.resource,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs,
        });
        if let Some(obj) = main.as_object_mut() {
            if !self.short_names.is_empty() {
                obj.insert("shortNames".into(), json!(self.short_names));
            }
            if !self.categories.is_empty() {
                obj.insert("categories".into(), json!(self.categories));
            }
            if self.is_stored() {
                obj.insert(
                    "storageVersionHash".into(),
                    json!(storage_version_hash(self)),
                );
            }
        }
        let mut out = vec![main];
        for sub in &self.subresources {
            let mut e = json!({
                "name": format!("{}/{}", self.resource, sub.name),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": if sub.kind.is_empty() { self.kind.as_str() } else { sub.kind },
                "verbs": sub.verbs,
            });
            if let Some(obj) = e.as_object_mut() {
                if !sub.group.is_empty() {
                    obj.insert("group".into(), json!(sub.group));
                }
                if !sub.version.is_empty() {
                    obj.insert("version".into(), json!(sub.version));
                }
            }
            out.push(e);
        }
        out
    }
}

fn storage_version_hash(def: &ResourceDef) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{}/{}/{}", def.group, def.version, def.kind));
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// The selectable fields of a storage key (used when loading stored objects).
pub fn index_fields_for_storage(storage: &str) -> Vec<String> {
    builtin_resources()
        .into_iter()
        .find(|d| d.storage == storage)
        .map(|d| d.fields)
        .unwrap_or_default()
}

/// The live catalog: built-ins plus CRD-served resources, swapped atomically on CRD changes.
#[derive(Debug)]
pub struct Registry {
    builtin: Vec<Arc<ResourceDef>>,
    custom: RwLock<Vec<Arc<ResourceDef>>>,
    generation: std::sync::atomic::AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry with every built-in resource and no CRDs.
    pub fn new() -> Self {
        Registry {
            builtin: builtin_resources().into_iter().map(Arc::new).collect(),
            custom: RwLock::new(Vec::new()),
            generation: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// Replaces the CRD-served resources.
    pub fn set_custom(&self, defs: Vec<Arc<ResourceDef>>) {
        let mut guard = self.custom.write().unwrap_or_else(|p| p.into_inner());
        *guard = defs;
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Changes whenever the set of served resources changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every served resource.
    pub fn all(&self) -> Vec<Arc<ResourceDef>> {
        let custom = self.custom.read().unwrap_or_else(|p| p.into_inner());
        self.builtin.iter().chain(custom.iter()).cloned().collect()
    }

    /// Finds a resource by group, version and plural name.
    pub fn find(&self, group: &str, version: &str, resource: &str) -> Option<Arc<ResourceDef>> {
        let hit = |d: &&Arc<ResourceDef>| {
            d.group == group && d.version == version && d.resource == resource
        };
        if let Some(d) = self.builtin.iter().find(hit) {
            return Some(d.clone());
        }
        let custom = self.custom.read().unwrap_or_else(|p| p.into_inner());
        custom.iter().find(hit).cloned()
    }

    /// Finds a resource by group and kind, preferring the group's preferred version.
    pub fn find_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        let versions = self.group_versions(group);
        versions.iter().find_map(|v| {
            self.all()
                .into_iter()
                .find(|d| d.group == group && &d.version == v && d.kind == kind)
        })
    }

    /// Whether the group-version is served at all.
    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.all()
            .iter()
            .any(|d| d.group == group && d.version == version)
    }

    /// Versions of a group, preferred first (CRDs by their version priority, built-ins as listed).
    pub fn group_versions(&self, group: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let all = self.all();
        let mut custom: Vec<(i64, String)> = Vec::new();
        for d in &all {
            if d.group != group {
                continue;
            }
            match &d.crd {
                Some(c) => {
                    if !custom.iter().any(|(_, v)| v == &d.version) {
                        custom.push((c.version_priority, d.version.clone()));
                    }
                }
                None => {
                    if !out.contains(&d.version) {
                        out.push(d.version.clone());
                    }
                }
            }
        }
        custom.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| crd::compare_versions(&a.1, &b.1))
        });
        for (_, v) in custom {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }

    /// Group names in discovery order: built-in groups first, then CRD groups sorted.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for d in &self.builtin {
            if !d.group.is_empty() && !out.contains(&d.group) {
                out.push(d.group.clone());
            }
        }
        let custom = self.custom.read().unwrap_or_else(|p| p.into_inner());
        let mut extra: Vec<String> = custom
            .iter()
            .map(|d| d.group.clone())
            .filter(|g| !out.contains(g))
            .collect();
        extra.sort();
        extra.dedup();
        out.extend(extra);
        out
    }

    /// Resources of one group-version, in discovery order.
    pub fn resources_of(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.all()
            .into_iter()
            .filter(|d| d.group == group && d.version == version)
            .collect()
    }
}
