//! The patrol's diff: a full comparison of one tenant's objects with their super copies.
//! Pure; the resource modules feed it from the caches and queue a work item per finding.

use std::collections::BTreeMap;

/// What the patrol found wrong with one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    /// The tenant object has no super copy.
    Missing,
    /// The super copy differs from what the tenant object asks for.
    Drifted,
    /// The super copy belongs to an earlier tenant object of the same name (uid differs).
    Stale,
    /// The super copy has no tenant object any more.
    Orphan,
}

impl Finding {
    /// Label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Missing => "missing",
            Finding::Drifted => "drifted",
            Finding::Stale => "stale",
            Finding::Orphan => "orphan",
        }
    }
}

/// One resource's objects on both sides, keyed by the tenant's `(namespace, name)`:
/// tenant objects with their uid, super copies with the tenant uid they record.
#[derive(Clone, Debug, Default)]
pub struct Sides<K: Ord> {
    /// Tenant objects that should have a super copy → their uid.
    pub tenant: BTreeMap<K, String>,
    /// Super copies owned by the tenant → the tenant uid recorded on them.
    pub super_: BTreeMap<K, Option<String>>,
}

/// Compares both sides; `in_sync(key)` says whether an existing, same-uid copy matches.
pub fn diff<K: Ord + Clone>(
    sides: &Sides<K>,
    mut in_sync: impl FnMut(&K) -> bool,
) -> Vec<(Finding, K)> {
    let mut out = Vec::new();
    for (key, uid) in &sides.tenant {
        match sides.super_.get(key) {
            None => out.push((Finding::Missing, key.clone())),
            Some(recorded) if recorded.as_deref() != Some(uid.as_str()) => {
                out.push((Finding::Stale, key.clone()));
            }
            Some(_) if !in_sync(key) => out.push((Finding::Drifted, key.clone())),
            Some(_) => {}
        }
    }
    for key in sides.super_.keys() {
        if !sides.tenant.contains_key(key) {
            out.push((Finding::Orphan, key.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_kind_of_drift() {
        let k = |n: &str| ("default".to_string(), n.to_string());
        let sides = Sides {
            tenant: BTreeMap::from([
                (k("ok"), "u1".to_string()),
                (k("missing"), "u2".to_string()),
                (k("stale"), "u3".to_string()),
                (k("drifted"), "u4".to_string()),
            ]),
            super_: BTreeMap::from([
                (k("ok"), Some("u1".to_string())),
                (k("stale"), Some("old".to_string())),
                (k("drifted"), Some("u4".to_string())),
                (k("orphan"), Some("u9".to_string())),
            ]),
        };
        let mut found = diff(&sides, |key| key.1 != "drifted");
        found.sort();
        assert_eq!(
            found,
            vec![
                (Finding::Missing, k("missing")),
                (Finding::Drifted, k("drifted")),
                (Finding::Stale, k("stale")),
                (Finding::Orphan, k("orphan")),
            ]
        );
    }

    #[test]
    fn nothing_to_do_when_in_sync() {
        let sides: Sides<(String, String)> = Sides::default();
        assert!(diff(&sides, |_| true).is_empty());
    }
}
