//! The resources an established CRD serves.

use std::sync::Arc;

use serde_json::Value;

use super::crd::{CrdServing, ScalePaths, version_priority};
use super::def::{ResourceDef, STANDARD_VERBS, Subresource};
use crate::kinds::custom::CustomResource;

/// Whether a CRD object has `Established=True`.
pub fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Established")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// The resources an established CRD serves, one per served version.
pub fn defs_from_crd(crd: &Value) -> Vec<ResourceDef> {
    let str_at = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let group = str_at("/spec/group");
    let plural = str_at("/spec/names/plural");
    let kind = str_at("/spec/names/kind");
    let mut singular = str_at("/spec/names/singular");
    if singular.is_empty() {
        singular = kind.to_ascii_lowercase();
    }
    let namespaced = str_at("/spec/scope") != "Cluster";
    let strings = |p: &str| -> Vec<String> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let short_names = strings("/spec/names/shortNames");
    let categories = strings("/spec/names/categories");
    let crd_name = str_at("/metadata/name");
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage_version = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name").and_then(Value::as_str))
        .unwrap_or_default()
        .to_string();
    let mut out = Vec::new();
    for v in &versions {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let version = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let status = v.pointer("/subresources/status").is_some();
        let scale = v.pointer("/subresources/scale").map(|s| ScalePaths {
            spec_replicas: s
                .get("specReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".spec.replicas")
                .to_string(),
            status_replicas: s
                .get("statusReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".status.replicas")
                .to_string(),
            label_selector: s
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
        let mut subresources = Vec::new();
        if status {
            subresources.push(Subresource::status());
        }
        if scale.is_some() {
            subresources.push(Subresource::scale());
        }
        let fields = v
            .get("selectableFields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                    .map(|p| p.trim_start_matches('.').to_string())
                    .collect()
            })
            .unwrap_or_default();
        let schema = v.pointer("/schema/openAPIV3Schema").cloned();
        let schema_index = schema.as_ref().and_then(|s| {
            crate::schema::SchemaIndex::from_crd_schema(
                crate::schema::Gvk::new(&group, &version, &kind),
                s,
            )
            .map(Arc::new)
            .ok()
        });
        out.push(ResourceDef {
            group: group.clone(),
            version: version.clone(),
            resource: plural.clone(),
            singular: singular.clone(),
            kind: kind.clone(),
            namespaced,
            short_names: short_names.clone(),
            categories: categories.clone(),
            verbs: STANDARD_VERBS.to_vec(),
            subresources,
            storage: format!("{group}/{plural}"),
            fields,
            has_status: status,
            generation: true,
            crd: Some(Arc::new(CrdServing {
                crd_name: crd_name.clone(),
                version_priority: version_priority(&version),
                storage_version: storage_version.clone(),
                defaults_on_read: schema
                    .as_ref()
                    .is_some_and(crate::kinds::custom::has_defaults),
                schema,
                schema_index,
                scale,
                printer_columns: v
                    .get("additionalPrinterColumns")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            })),
            strategy: Arc::new(CustomResource),
            typed: None,
            printer: None,
            kubelet: None,
        });
    }
    out
}
