//! Label and field selectors in the query-string syntax clients send
//! (`app=web,tier!=db,env in (a,b),!legacy`, `metadata.name=x,status.phase!=Running`).

use std::collections::BTreeMap;

/// A malformed selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub struct SelectorError(pub String);

/// A malformed field selector, worded as upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldSelectorError(pub String);

/// One label requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelRequirement {
    /// `key=value` / `key==value` / `key in (v1,v2)`.
    In(String, Vec<String>),
    /// `key!=value` / `key notin (v1,v2)` (also matches objects without the key).
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
    /// `key>N` (integer comparison).
    Gt(String, i64),
    /// `key<N` (integer comparison).
    Lt(String, i64),
}

/// A parsed label selector: all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<LabelRequirement>);

impl LabelSelector {
    /// Parses the query-string form; empty selects everything.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut out = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            out.push(parse_label_requirement(part)?);
        }
        Ok(LabelSelector(out))
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether labels given as `(key, value)` pairs satisfy every requirement.
    pub fn matches<'a, F>(&self, get: F) -> bool
    where
        F: Fn(&str) -> Option<&'a str>,
    {
        self.0.iter().all(|r| match r {
            LabelRequirement::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            LabelRequirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
            LabelRequirement::Exists(k) => get(k).is_some(),
            LabelRequirement::DoesNotExist(k) => get(k).is_none(),
            LabelRequirement::Gt(k, n) => get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            LabelRequirement::Lt(k, n) => get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        })
    }

    /// Matches against a label map.
    pub fn matches_map(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches(|k| labels.get(k).map(String::as_str))
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_label_requirement(part: &str) -> Result<LabelRequirement, SelectorError> {
    let err = || SelectorError(part.to_string());
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        validate_label_key(key).map_err(|_| err())?;
        return Ok(LabelRequirement::DoesNotExist(key.to_string()));
    }
    for (op, ctor) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some(idx) = part.find(op) {
            // `!=` must win over `=` at the same place; checked first above.
            let key = part[..idx].trim();
            let value = part[idx + op.len()..].trim();
            validate_label_key(key).map_err(|_| err())?;
            return match ctor {
                0 | 1 => {
                    validate_label_value(value).map_err(|_| err())?;
                    let vals = vec![value.to_string()];
                    Ok(if ctor == 0 {
                        LabelRequirement::NotIn(key.to_string(), vals)
                    } else {
                        LabelRequirement::In(key.to_string(), vals)
                    })
                }
                _ => {
                    let n: i64 = value.parse().map_err(|_| err())?;
                    Ok(if ctor == 2 {
                        LabelRequirement::Gt(key.to_string(), n)
                    } else {
                        LabelRequirement::Lt(key.to_string(), n)
                    })
                }
            };
        }
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let key = words[0].trim();
        let rest = words[1].trim();
        let (op, set) = if let Some(s) = rest.strip_prefix("notin") {
            ("notin", s)
        } else if let Some(s) = rest.strip_prefix("in") {
            ("in", s)
        } else {
            return Err(err());
        };
        let set = set.trim();
        let inner = set
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(err)?;
        validate_label_key(key).map_err(|_| err())?;
        let vals: Vec<String> = inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        for v in &vals {
            validate_label_value(v).map_err(|_| err())?;
        }
        if vals.is_empty() {
            return Err(err());
        }
        return Ok(if op == "in" {
            LabelRequirement::In(key.to_string(), vals)
        } else {
            LabelRequirement::NotIn(key.to_string(), vals)
        });
    }
    let key = part.trim();
    validate_label_key(key).map_err(|_| err())?;
    Ok(LabelRequirement::Exists(key.to_string()))
}

/// Validates a label key: optional DNS-subdomain prefix, `/`, name of ≤63 `[A-Za-z0-9_.-]`.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && !crds::tenancy::is_dns1123_subdomain(p)
    {
        return Err("prefix part must be a lowercase RFC 1123 subdomain".into());
    }
    if !is_qualified_name_part(name) {
        return Err("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into());
    }
    Ok(())
}

/// Validates a label value: empty or ≤63 `[A-Za-z0-9_.-]` with alphanumeric ends.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_qualified_name_part(value) {
        Ok(())
    } else {
        Err("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into())
    }
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// One field requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// Field path, e.g. `spec.nodeName`.
    pub field: String,
    /// `true` for `=`/`==`, `false` for `!=`.
    pub equals: bool,
    /// Compared value.
    pub value: String,
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<FieldRequirement>);

impl FieldSelector {
    /// Parses `a=b,c!=d` as upstream's `fields.ParseSelector`: terms split at unescaped
    /// commas, each at its leftmost operator (`!=`, `==`, `=`), values unescaped (`\\`, `\,`,
    /// `\=`) with any other escape or an unescaped `=`/`,` refused.
    pub fn parse(text: &str) -> Result<Self, FieldSelectorError> {
        let mut out = Vec::new();
        for part in split_unescaped(text, ',') {
            if part.is_empty() {
                continue;
            }
            let Some((field, op, value)) = split_term(&part) else {
                return Err(FieldSelectorError(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                )));
            };
            let value = unescape_field_value(value)
                .map_err(|e| FieldSelectorError(format!("invalid field selector: {e}")))?;
            out.push(FieldRequirement {
                field: field.to_string(),
                equals: op != "!=",
                value,
            });
        }
        Ok(FieldSelector(out))
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value an `=`/`==` requirement demands for `field`, if any.
    pub fn exact(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|r| r.equals && r.field == field)
            .map(|r| r.value.as_str())
    }

    /// Whether the object's field values (`get(field)`) satisfy every requirement. A field that
    /// the object does not have compares as the empty string, as upstream.
    pub fn matches<F>(&self, get: F) -> bool
    where
        F: Fn(&str) -> Option<String>,
    {
        self.0.iter().all(|r| {
            let v = get(&r.field).unwrap_or_default();
            (v == r.value) == r.equals
        })
    }
}

fn split_unescaped(text: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        // A trailing lone backslash stays, for the value check to refuse.
        cur.push('\\');
    }
    parts.push(cur);
    parts
}

/// The term split at its leftmost operator, trying `!=`, `==`, `=` at each position.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

/// Upstream's `fields.UnescapeValue`.
fn unescape_field_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!("invalid escape sequence: \\{c}"));
            }
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if matches!(c, ',' | '=') {
            return Err(format!("unescaped character in value: {}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    if escaped {
        return Err("invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_label_operator() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("rank", "5")]);
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (web,db)", true),
            ("app in (db)", false),
            ("app notin (db, cache)", true),
            ("app notin (web)", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app=web,tier in (front),!legacy", true),
            ("rank>3", true),
            ("rank<3", false),
            ("example.com/role", false),
        ] {
            let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches_map(&l), want, "{sel}");
        }
    }

    #[test]
    fn malformed_label_selectors_are_errors() {
        for bad in [
            "app in web",
            "app in ()",
            "=x",
            "a b c",
            "app=-bad-",
            "Bad Key=x",
        ] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors() {
        let s = FieldSelector::parse("metadata.name=web,status.phase!=Running").unwrap_or_default();
        assert_eq!(s.exact("metadata.name"), Some("web"));
        let get = |f: &str| match f {
            "metadata.name" => Some("web".to_string()),
            "status.phase" => Some("Pending".to_string()),
            _ => None,
        };
        assert!(s.matches(get));
        let s = FieldSelector::parse(r"metadata.name=a\,b").unwrap_or_default();
        assert_eq!(s.exact("metadata.name"), Some("a,b"));
        let s = FieldSelector::parse("spec.nodeName=").unwrap_or_default();
        assert!(s.matches(|_| None));
        assert!(FieldSelector::parse("nonsense").is_err());
        for (bad, message) in [
            (
                "nonsense",
                "invalid selector: 'nonsense'; can't understand 'nonsense'",
            ),
            (
                "spec.nodeName===",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "a=b!=c",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                r"a=b\x",
                r"invalid field selector: invalid escape sequence: \x",
            ),
            (
                r"a=b\",
                r"invalid field selector: invalid escape sequence: \",
            ),
        ] {
            assert_eq!(
                FieldSelector::parse(bad).map_err(|e| e.to_string()),
                Err(message.to_string()),
                "{bad}"
            );
        }
        let s = FieldSelector::parse(r"metadata.name=a\=b\\c").unwrap_or_default();
        assert_eq!(s.exact("metadata.name"), Some(r"a=b\c"));
    }
}
