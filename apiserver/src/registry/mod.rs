//! The catalog of served resources: built-in kinds and the custom resources of established CRDs.

mod builtin;
pub mod crd;
pub mod custom;
pub mod def;

use std::sync::{Arc, RwLock};

pub use builtin::builtin_resources;
pub use crd::CrdServing;
pub use def::{
    Ctx, Origin, Plain, ResourceDef, STANDARD_VERBS, Shared, Strategy, Subresource, TypedDecode,
};

/// The selectable fields of a storage key (used when loading stored objects).
pub fn index_fields_for_storage(storage: &str) -> Vec<String> {
    static FIELDS: std::sync::OnceLock<std::collections::HashMap<String, Vec<String>>> =
        std::sync::OnceLock::new();
    FIELDS
        .get_or_init(|| {
            let mut out = std::collections::HashMap::new();
            for d in builtin_resources(&Shared::detached()) {
                out.entry(d.storage).or_insert(d.fields);
            }
            out
        })
        .get(storage)
        .cloned()
        .unwrap_or_default()
}

/// The live catalog: built-ins plus CRD-served resources, swapped atomically on CRD changes.
#[derive(Debug)]
pub struct Registry {
    builtin: Vec<Arc<ResourceDef>>,
    custom: RwLock<Vec<Arc<ResourceDef>>>,
    generation: std::sync::atomic::AtomicU64,
}

impl Registry {
    /// A registry with every built-in resource (strategies holding `shared`) and no CRDs.
    pub fn new(shared: &Shared) -> Self {
        Registry {
            builtin: builtin_resources(shared)
                .into_iter()
                .map(Arc::new)
                .collect(),
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

    /// Whether a built-in (not CRD-defined) resource is served at `group`/`version`: such
    /// paths answer unknown resources with a `Status`, others with a plain 404 page.
    pub fn serves_builtin_group_version(&self, group: &str, version: &str) -> bool {
        self.all()
            .iter()
            .any(|d| d.group == group && d.version == version && d.crd.is_none())
    }

    /// Whether any resource (built-in or custom) is served at `group`/`version`.
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
