//! Serving custom resources from CustomResourceDefinition objects.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::Value;

use super::{ResourceDef, STANDARD_VERBS, Subresource};

/// The scale subresource's paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    /// `.spec.replicas`-like path.
    pub spec_replicas: String,
    /// `.status.replicas`-like path.
    pub status_replicas: String,
    /// Optional `.status.selector`-like path.
    pub label_selector: Option<String>,
}

/// What serving one version of a CRD needs.
#[derive(Debug, Clone)]
pub struct CrdServing {
    /// Name of the CRD (`plural.group`).
    pub crd_name: String,
    /// Higher serves first in discovery.
    pub version_priority: i64,
    /// The version objects are stored in.
    pub storage_version: String,
    /// The version's `openAPIV3Schema`.
    pub schema: Option<Value>,
    /// The version's scale subresource, when declared.
    pub scale: Option<ScalePaths>,
    /// `additionalPrinterColumns` of the version.
    pub printer_columns: Vec<Value>,
    /// The version's schema, indexed for field management, patches and validation.
    pub schema_index: Option<Arc<crate::schema::SchemaIndex>>,
}

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
            subresources.push(Subresource {
                name: "status",
                kind: "",
                group: "",
                version: "",
                verbs: &["get", "patch", "update"],
            });
        }
        if scale.is_some() {
            subresources.push(Subresource {
                name: "scale",
                kind: "Scale",
                group: "autoscaling",
                version: "v1",
                verbs: &["get", "patch", "update"],
            });
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
                schema,
                schema_index,
                scale,
                printer_columns: v
                    .get("additionalPrinterColumns")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            })),
        });
    }
    out
}

/// Parsed Kubernetes version name: `v2` > `v1` > `v1beta2` > `v1beta1` > `v1alpha1` > others.
fn parse_kube_version(v: &str) -> Option<(u8, u64, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.starts_with('0') {
        return None;
    }
    let major: u64 = digits.parse().ok()?;
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return Some((3, major, 0));
    }
    for (word, class) in [("beta", 2u8), ("alpha", 1u8)] {
        if let Some(n) = tail.strip_prefix(word) {
            if n.is_empty() || n.starts_with('0') || !n.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            return Some((class, major, n.parse().ok()?));
        }
    }
    None
}

/// Orders two version names by Kubernetes version priority, highest first.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (parse_kube_version(a), parse_kube_version(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// A numeric priority consistent with [`compare_versions`] (for sorting mixed lists).
pub fn version_priority(v: &str) -> i64 {
    match parse_kube_version(v) {
        Some((class, major, minor)) => {
            let major = i64::try_from(major.min(100_000)).unwrap_or(0);
            let minor = i64::try_from(minor.min(100_000)).unwrap_or(0);
            i64::from(class) * 10_000_000_000 + major * 100_000 + minor
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ordering_matches_upstream() {
        let mut vs = vec![
            "v1alpha1",
            "v11alpha2",
            "foo1",
            "v10",
            "v2",
            "foo10",
            "v1",
            "v12alpha1",
            "v3beta1",
            "v10beta3",
            "v11beta2",
            "v1beta1",
            "v10alpha1",
        ];
        vs.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            vs,
            vec![
                "v10",
                "v2",
                "v1",
                "v11beta2",
                "v10beta3",
                "v3beta1",
                "v1beta1",
                "v12alpha1",
                "v11alpha2",
                "v10alpha1",
                "v1alpha1",
                "foo1",
                "foo10"
            ]
        );
    }
}
