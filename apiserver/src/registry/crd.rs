//! Serving custom resources from CustomResourceDefinition objects.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::Value;

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
    /// Whether the schema has defaults, which reads apply to stored objects too.
    pub defaults_on_read: bool,
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
