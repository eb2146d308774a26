//! What every printer uses: columns, the printer type, and cell helpers.

use serde_json::Value;

use crate::table::format::age;

/// Where a column's description comes from.
pub enum Doc {
    /// A property description in the served definitions (upstream's `SwaggerDoc()`).
    Field(&'static str, &'static str),
    /// Literal text.
    Text(&'static str),
}

/// A column: name, type (`type/format` when a column other than `Name` has a format),
/// priority, description.
pub struct Col(pub &'static str, pub &'static str, pub i64, pub Doc);

/// The ObjectMeta definition name.
pub const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/// The `Name` column.
pub const NAME: Col = Col("Name", "string", 0, Doc::Field(META, "name"));
/// The `Age` column.
pub const AGE: Col = Col("Age", "string", 0, Doc::Field(META, "creationTimestamp"));
/// The pod template's container names (priority 1).
pub const CONTAINERS: Col = Col(
    "Containers",
    "string",
    1,
    Doc::Text("Names of each container in the template."),
);
/// The pod template's images (priority 1).
pub const IMAGES: Col = Col(
    "Images",
    "string",
    1,
    Doc::Text("Images referenced by each container in the template."),
);

/// Cells of a row and its optional `conditions`.
pub type RowCells = (Vec<Value>, Option<Value>);

/// Produces one row from an object at a given time.
pub type PrintFn = fn(&Value, jiff::Timestamp) -> RowCells;

/// A printer: its columns and the function producing cells (and row conditions).
pub struct Printer {
    /// The columns.
    pub columns: Vec<Col>,
    /// Cells of one object.
    pub print: PrintFn,
}

/// A row of cells without conditions.
pub fn cells<const N: usize>(values: [Value; N]) -> (Vec<Value>, Option<Value>) {
    (values.into(), None)
}

/// The string at a JSON pointer ("" when absent).
pub fn s<'v>(o: &'v Value, ptr: &str) -> &'v str {
    o.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// The integer at a JSON pointer (0 when absent).
pub fn n(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or_default()
}

/// The number of entries of the object or array at a JSON pointer.
pub fn len(o: &Value, ptr: &str) -> usize {
    match o.pointer(ptr) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// The array at a JSON pointer (empty when absent).
pub fn arr<'v>(o: &'v Value, ptr: &str) -> &'v [Value] {
    o.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The text, or `<none>` when empty.
pub fn or_none(text: &str) -> Value {
    if text.is_empty() { "<none>" } else { text }.into()
}

/// The object's name cell.
pub fn name(o: &Value) -> Value {
    s(o, "/metadata/name").into()
}

/// The object's age cell.
pub fn created(o: &Value, now: jiff::Timestamp) -> Value {
    age(o.pointer("/metadata/creationTimestamp"), now).into()
}

/// `spec.replicas` with the API default of 1 when unset.
pub fn replicas(o: &Value) -> i64 {
    o.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// The template's container names and images, comma-separated.
pub fn containers_images(o: &Value) -> (String, String) {
    let containers = arr(o, "/spec/template/spec/containers");
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// A boolean at a JSON pointer, `default` when absent (upstream prints defaulted pointers).
pub fn flag(o: &Value, ptr: &str, default: bool) -> Value {
    Value::Bool(o.pointer(ptr).and_then(Value::as_bool).unwrap_or(default))
}

/// A quantity or int-or-string value as text (JSON numbers are accepted for both).
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Up to `max` items joined by `,`, then ` + N more...`; `<unset>` when nothing is shown.
pub fn list_with_more(items: impl IntoIterator<Item = String>, max: usize) -> String {
    let mut shown = Vec::new();
    let mut count = 0;
    for item in items {
        if shown.len() < max {
            shown.push(item);
        }
        count += 1;
    }
    let joined = shown.join(",");
    if count > max {
        format!("{joined} + {} more...", count - max)
    } else if joined.is_empty() {
        "<unset>".to_owned()
    } else {
        joined
    }
}
