//! `meta.k8s.io/v1` `Table` responses (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
//!
//! Built-in printers follow upstream's server-side printers (generated "wide": priority-1
//! columns are in every row, kubectl hides them without `-o wide`) for every built-in kind
//! upstream prints (`printers/`).
//! CRDs use their `additionalPrinterColumns` (JSONPath; `date` cells are ages computed here, as
//! upstream does; no columns → `Age`). Every other kind (LimitRange, Role, ClusterRole,
//! CustomResourceDefinition, as upstream) gets the default convertor: `Name` and `Created At`
//! (RFC 3339). Rows carry the object per `includeObject` (default `Metadata` →
//! `PartialObjectMetadata`). Known deviations: quantities are shown as stored, not
//! canonicalised; JSONPath supports fields, indexes, `[*]` and `[?(@.f=="v")]` filters only.

pub mod format;
pub mod printers;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use crate::schema::SchemaIndex;
pub use printers::Printer;
use printers::{Col, Doc};

/// Errors building a table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// `includeObject` has a value upstream rejects.
    #[error(
        "includeObject: Unsupported value: {0:?}: supported values: \"None\", \"Metadata\", \"Object\""
    )]
    InvalidIncludeObject(String),
    /// A CRD's `additionalPrinterColumns` is not a list of column objects.
    #[error("invalid additionalPrinterColumns: {0}")]
    InvalidColumns(String),
}

/// The `includeObject` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object in rows.
    None,
    /// `PartialObjectMetadata` (upstream's default).
    #[default]
    Metadata,
    /// The full object.
    Object,
}

impl IncludeObject {
    /// Parses the query parameter (absent → `Metadata`).
    pub fn from_query(value: Option<&str>) -> Result<IncludeObject, TableError> {
        match value {
            None | Some("") | Some("Metadata") => Ok(IncludeObject::Metadata),
            Some("None") => Ok(IncludeObject::None),
            Some("Object") => Ok(IncludeObject::Object),
            Some(other) => Err(TableError::InvalidIncludeObject(other.to_owned())),
        }
    }
}

/// How to turn one kind's objects into rows.
pub struct TableConvertor {
    columns: Vec<Value>,
    kind: ConvertorKind,
}

enum ConvertorKind {
    Printer(printers::PrintFn),
    Crd(Vec<CrdColumn>),
    Default,
}

struct CrdColumn {
    json_path: String,
    ty: String,
}

impl TableConvertor {
    /// The convertor of a built-in kind (upstream's printer, else the default one).
    pub fn builtin(printer: Option<Printer>) -> TableConvertor {
        match printer {
            Some(Printer { columns, print }) => TableConvertor {
                columns: columns.iter().map(column_json).collect(),
                kind: ConvertorKind::Printer(print),
            },
            None => TableConvertor::default_columns(),
        }
    }

    /// Upstream's default convertor: `Name` and `Created At`.
    pub fn default_columns() -> TableConvertor {
        let created_at = Col(
            "Created At",
            "date",
            0,
            Doc::Field(META, "creationTimestamp"),
        );
        TableConvertor {
            columns: vec![column_json(&printers::NAME), column_json(&created_at)],
            kind: ConvertorKind::Default,
        }
    }

    /// The convertor of a CRD version from its `additionalPrinterColumns` (None or empty →
    /// upstream's `Age` column).
    pub fn crd(additional_printer_columns: Option<&Value>) -> Result<TableConvertor, TableError> {
        let given = match additional_printer_columns {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(cols)) => cols.clone(),
            Some(other) => return Err(TableError::InvalidColumns(other.to_string())),
        };
        let given = if given.is_empty() {
            vec![json!({
                "name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                "description": description(&Doc::Field(META, "creationTimestamp")),
            })]
        } else {
            given
        };
        let mut columns = vec![column_json(&printers::NAME)];
        let mut crd_columns = Vec::new();
        for col in &given {
            let field = |k: &str| col.get(k).and_then(Value::as_str).unwrap_or_default();
            if field("name").is_empty() || field("jsonPath").is_empty() {
                return Err(TableError::InvalidColumns(col.to_string()));
            }
            columns.push(json!({
                "name": field("name"),
                "type": field("type"),
                "format": field("format"),
                "description": field("description"),
                "priority": col.get("priority").and_then(Value::as_i64).unwrap_or(0),
            }));
            crd_columns.push(CrdColumn {
                json_path: field("jsonPath").to_owned(),
                ty: field("type").to_owned(),
            });
        }
        Ok(TableConvertor {
            columns,
            kind: ConvertorKind::Crd(crd_columns),
        })
    }

    /// The column definitions.
    pub fn column_definitions(&self) -> &[Value] {
        &self.columns
    }

    /// A `Table` for `items` (one object for a get, the items of a list). `list_meta` is the
    /// list's `metadata` (resourceVersion, continue, remainingItemCount) or `{}`;
    /// `no_headers` omits the column definitions (later watch events).
    pub fn to_table(
        &self,
        items: &[Value],
        list_meta: &Value,
        include: IncludeObject,
        no_headers: bool,
        now: jiff::Timestamp,
    ) -> Value {
        let rows: Vec<Value> = items
            .iter()
            .map(|item| self.row(item, include, now))
            .collect();
        let mut metadata = Map::new();
        for key in ["resourceVersion", "continue", "remainingItemCount"] {
            if let Some(v) = list_meta.get(key).filter(|v| !v.is_null()) {
                metadata.insert(key.to_owned(), v.clone());
            }
        }
        let mut table = json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
        });
        if !no_headers {
            table["columnDefinitions"] = Value::Array(self.columns.clone());
        }
        table["rows"] = Value::Array(rows);
        table
    }

    fn row(&self, item: &Value, include: IncludeObject, now: jiff::Timestamp) -> Value {
        let (cells, conditions) = match &self.kind {
            ConvertorKind::Printer(print) => print(item, now),
            ConvertorKind::Crd(columns) => (crd_cells(item, columns, now), None),
            ConvertorKind::Default => (
                vec![
                    item.pointer("/metadata/name").cloned().unwrap_or_default(),
                    created_at(item),
                ],
                None,
            ),
        };
        let mut row = json!({ "cells": cells });
        if let Some(conditions) = conditions {
            row["conditions"] = conditions;
        }
        match include {
            IncludeObject::None => {}
            IncludeObject::Object => row["object"] = item.clone(),
            IncludeObject::Metadata => {
                row["object"] = json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": item.get("metadata").cloned().unwrap_or_else(|| json!({})),
                });
            }
        }
        row
    }
}

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

fn description(doc: &Doc) -> String {
    match doc {
        Doc::Text(text) => (*text).to_owned(),
        Doc::Field(def, field) => SchemaIndex::builtin()
            .ok()
            .and_then(|index| {
                index
                    .definitions()
                    .get(*def)?
                    .pointer(&format!("/properties/{field}/description"))?
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_default(),
    }
}

fn column_json(col: &Col) -> Value {
    let Col(name, ty, priority, doc) = col;
    // `type/format` carries a format on a column other than `Name` (VolumeAttachment's
    // Attacher is a `name` column upstream, which kubectl prefixes with the kind).
    let (ty, format) = match ty.split_once('/') {
        Some((ty, format)) => (ty, format),
        None if *name == "Name" => (*ty, "name"),
        None => (*ty, ""),
    };
    json!({
        "name": name,
        "type": ty,
        "format": format,
        "description": description(doc),
        "priority": priority,
    })
}

fn created_at(item: &Value) -> Value {
    item.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| Value::String(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .unwrap_or(Value::Null)
}

/// CRD cells: typed per column type as upstream's `cellForJSONValue`; `string` columns print
/// the value; `date` columns are ages.
fn crd_cells(item: &Value, columns: &[CrdColumn], now: jiff::Timestamp) -> Vec<Value> {
    let mut cells = vec![item.pointer("/metadata/name").cloned().unwrap_or_default()];
    for col in columns {
        let value = format::json_path_first(item, &col.json_path);
        let cell = match value {
            None | Some(Value::Null) => Value::Null,
            Some(v) => match col.ty.as_str() {
                "string" => Value::String(match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
                "integer" => v
                    .as_i64()
                    .or_else(|| v.as_f64().map(|f| f as i64))
                    .map_or(Value::Null, Value::from),
                "number" => v.as_f64().map_or(Value::Null, Value::from),
                "boolean" => v.as_bool().map_or(Value::Null, Value::Bool),
                "date" => match v.as_str() {
                    Some(_) => Value::String(format::age(Some(v), now)),
                    None => Value::Null,
                },
                _ => Value::Null,
            },
        };
        cells.push(cell);
    }
    cells
}
