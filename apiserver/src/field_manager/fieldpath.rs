//! Field paths and sets with upstream's `FieldsV1` encoding (`f:`, `k:`, `v:`, `i:`, `.`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use super::error::ApplyError;

/// One step of a path. The order (field < key < value < index) is structured-merge-diff's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of an object.
    Field(String),
    /// An item of a map-type list, by its key fields (canonical JSON object, keys sorted).
    Key(String),
    /// An item of a set-type list, by value (canonical JSON).
    Value(String),
    /// An item of a list by position.
    Index(usize),
}

/// A path from the object root.
pub type Path = Vec<PathElement>;

/// A set of owned paths (each path is a member, as upstream's `fieldpath.Set`).
pub type FieldSet = BTreeSet<Path>;

/// Canonical JSON of a value with object keys sorted (for `k:`/`v:` elements).
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&map[k]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

impl fmt::Display for PathElement {
    /// fieldpath.Path's text form: `.name`, `[name="nginx"]`, `[="value"]`, `[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(json) => {
                let parsed: Map<String, Value> = serde_json::from_str(json).unwrap_or_default();
                let parts: Vec<String> = parsed.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(json) => write!(f, "[={json}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Renders a path as upstream does in conflict messages (`.spec.replicas`).
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

fn element_key(e: &PathElement) -> String {
    match e {
        PathElement::Field(name) => format!("f:{name}"),
        PathElement::Key(json) => format!("k:{json}"),
        PathElement::Value(json) => format!("v:{json}"),
        PathElement::Index(i) => format!("i:{i}"),
    }
}

#[derive(Default)]
struct Node {
    member: bool,
    children: BTreeMap<PathElement, Node>,
}

impl Node {
    fn to_json(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            map.insert(element_key(element), child.to_json());
        }
        Value::Object(map)
    }
}

/// Encodes a set as `fieldsV1`.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Node::default();
    for path in set {
        let mut node = &mut root;
        for element in path {
            node = node.children.entry(element.clone()).or_default();
        }
        node.member = true;
    }
    root.to_json()
}

/// Decodes `fieldsV1` into a set.
pub fn from_fields_v1(value: &Value) -> Result<FieldSet, ApplyError> {
    let mut set = FieldSet::new();
    decode_into(value, &mut Vec::new(), &mut set)?;
    Ok(set)
}

fn decode_into(value: &Value, path: &mut Path, set: &mut FieldSet) -> Result<(), ApplyError> {
    let Some(map) = value.as_object() else {
        return Err(ApplyError::BadManagedFields(format!(
            "expected an object at {}",
            path_string(path)
        )));
    };
    for (key, child) in map {
        if key == "." {
            set.insert(path.clone());
            continue;
        }
        let element = parse_element(key)?;
        path.push(element);
        if child.as_object().is_some_and(Map::is_empty) {
            set.insert(path.clone());
        } else {
            decode_into(child, path, set)?;
        }
        path.pop();
    }
    Ok(())
}

fn parse_element(key: &str) -> Result<PathElement, ApplyError> {
    let bad = || ApplyError::BadManagedFields(format!("invalid path element {key:?}"));
    let (prefix, rest) = key.split_at_checked(2).ok_or_else(bad)?;
    match prefix {
        "f:" => Ok(PathElement::Field(rest.to_owned())),
        "k:" => {
            let parsed: Value = serde_json::from_str(rest).map_err(|_| bad())?;
            if !parsed.is_object() {
                return Err(bad());
            }
            Ok(PathElement::Key(canonical_json(&parsed)))
        }
        "v:" => {
            let parsed: Value = serde_json::from_str(rest).map_err(|_| bad())?;
            Ok(PathElement::Value(canonical_json(&parsed)))
        }
        "i:" => rest.parse().map(PathElement::Index).map_err(|_| bad()),
        _ => Err(bad()),
    }
}
