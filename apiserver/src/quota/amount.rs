//! Resource lists (`{"cpu": "500m", "pods": "2"}`) with exact arithmetic, as upstream's quota
//! helpers (`Add`, `Mask`, `LessThanOrEqual`...) work on them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One quantity, in thousandths of its unit, remembering whether it was written with a binary
/// suffix (`Mi`) so sums print as upstream prints them (`252Mi`, not `264241152`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    /// Value in thousandths.
    pub milli: i128,
    /// Whether it prints with binary suffixes.
    pub binary: bool,
}

impl Amount {
    /// A whole count (`pods: 1`).
    pub fn count(n: i128) -> Self {
        Amount {
            milli: n * 1000,
            binary: false,
        }
    }

    /// Parses a quantity as the API accepts it (a string, or a JSON number).
    pub fn parse(v: &Value) -> Option<Self> {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let milli = crds::quantity::parse_milli(&text).ok()?;
        Some(Amount {
            milli,
            binary: text.contains('i'),
        })
    }

    /// The canonical text upstream's `Quantity.String()` gives this value.
    pub fn text(&self) -> String {
        let sign = if self.milli < 0 { "-" } else { "" };
        let m = self.milli.abs();
        if m % 1000 != 0 {
            return format!("{sign}{m}m");
        }
        let v = m / 1000;
        if self.binary && v >= 1024 {
            let (n, suffix) = largest_unit(v, 1024, &["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]);
            return format!("{sign}{n}{suffix}");
        }
        let (n, suffix) = largest_unit(v, 1000, &["", "k", "M", "G", "T", "P", "E"]);
        format!("{sign}{n}{suffix}")
    }
}

/// `v` as `n * base^i` with the largest `i` that divides exactly, and that unit's suffix.
fn largest_unit(v: i128, base: i128, suffixes: &[&'static str]) -> (i128, &'static str) {
    let (mut n, mut i) = (v, 0);
    while n != 0 && n % base == 0 && i + 1 < suffixes.len() {
        n /= base;
        i += 1;
    }
    (n, suffixes[i])
}

/// A resource list: resource name → amount.
pub type Resources = BTreeMap<String, Amount>;

/// Reads a resource list from JSON, skipping what does not parse (validation reports it).
pub fn from_json(v: Option<&Value>) -> Resources {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, q)| Some((k.clone(), Amount::parse(q)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A resource list as JSON (canonical quantity strings).
pub fn to_json(r: &Resources) -> Value {
    Value::Object(
        r.iter()
            .map(|(k, a)| (k.clone(), Value::String(a.text())))
            .collect::<Map<String, Value>>(),
    )
}

/// `a + b`, keeping the first operand's print format unless it is zero (as upstream's
/// `Quantity.Add`).
pub fn add(a: &Resources, b: &Resources) -> Resources {
    let mut out = a.clone();
    for (k, v) in b {
        out.entry(k.clone())
            .and_modify(|x| {
                if x.milli == 0 {
                    x.binary = v.binary;
                }
                x.milli += v.milli;
            })
            .or_insert(*v);
    }
    out
}

/// `a - b` per resource, never below zero (upstream `SubtractWithNonNegativeResult`).
pub fn subtract_non_negative(a: &Resources, b: &Resources) -> Resources {
    a.iter()
        .map(|(k, v)| {
            let less = b.get(k).map_or(0, |x| x.milli);
            (
                k.clone(),
                Amount {
                    milli: (v.milli - less).max(0),
                    binary: v.binary,
                },
            )
        })
        .collect()
}

/// Only the resources named in `names`.
pub fn mask(r: &Resources, names: &[String]) -> Resources {
    r.iter()
        .filter(|(k, _)| names.contains(k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Without the zero entries.
pub fn without_zeros(r: Resources) -> Resources {
    r.into_iter().filter(|(_, v)| v.milli != 0).collect()
}

/// The resources of `a` that exceed their limit in `limits` (names absent there are free).
pub fn exceeding(a: &Resources, limits: &Resources) -> Vec<String> {
    a.iter()
        .filter(|(k, v)| limits.get(*k).is_some_and(|l| v.milli > l.milli))
        .map(|(k, _)| k.clone())
        .collect()
}

/// `cpu=500m,memory=1Gi`, sorted by name, as upstream's quota messages print lists.
pub fn pretty(r: &Resources) -> String {
    r.iter()
        .map(|(k, v)| format!("{k}={}", v.text()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn a(s: &str) -> Amount {
        Amount::parse(&json!(s)).unwrap_or(Amount::count(-1))
    }

    #[test]
    fn prints_canonically_like_upstream() {
        for (input, out) in [
            ("500m", "500m"),
            ("1", "1"),
            ("1000", "1k"),
            ("1500m", "1500m"),
            ("252Mi", "252Mi"),
            ("30Gi", "30Gi"),
            ("1536Mi", "1536Mi"),
            ("1Gi", "1Gi"),
            ("0", "0"),
            ("10Gi", "10Gi"),
            ("2G", "2G"),
        ] {
            assert_eq!(a(input).text(), out, "{input}");
        }
        assert_eq!(
            Amount {
                milli: 1_000_000,
                binary: true
            }
            .text(),
            "1k"
        );
        assert_eq!(
            Amount {
                milli: 2_048_000,
                binary: true
            }
            .text(),
            "2Ki"
        );
    }

    #[test]
    fn arithmetic_and_limits() {
        let used = from_json(Some(&json!({"cpu": "500m", "memory": "252Mi"})));
        let req = from_json(Some(&json!({"cpu": "600m", "memory": "100Mi"})));
        let hard = from_json(Some(&json!({"cpu": "1", "memory": "500Mi", "pods": "5"})));
        let sum = add(&used, &req);
        assert_eq!(pretty(&sum), "cpu=1100m,memory=352Mi");
        assert_eq!(exceeding(&sum, &hard), vec!["cpu".to_string()]);
        let back = subtract_non_negative(&req, &from_json(Some(&json!({"cpu": "1"}))));
        assert_eq!(pretty(&without_zeros(back)), "memory=100Mi");
        assert_eq!(pretty(&mask(&sum, &["memory".into()])), "memory=352Mi");
    }
}
