//! Field-level causes of invalid requests (`details.causes[]`), worded as upstream's
//! `field.Error`s.

use serde_json::Value;

/// One field-level cause of an error (`details.causes[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Machine-readable cause type, e.g. `FieldValueInvalid`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// Field path, e.g. `metadata.name`.
    pub field: String,
}

impl Cause {
    /// A cause with the given type, field and message.
    pub fn new(reason: &str, field: &str, message: impl Into<String>) -> Self {
        Cause {
            reason: reason.to_string(),
            message: message.into(),
            field: field.to_string(),
        }
    }

    /// `field: Required value` (upstream `field.Required`).
    pub fn required(field: &str, detail: &str) -> Self {
        let msg = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        Cause::new("FieldValueRequired", field, msg)
    }

    /// `field: Invalid value: <v>: detail` (upstream `field.Invalid`).
    pub fn invalid(field: &str, value: &Value, detail: &str) -> Self {
        let shown = match value {
            Value::String(s) => format!("{s:?}"),
            Value::Null => "null".to_string(),
            other => other.to_string(),
        };
        let msg = if detail.is_empty() {
            format!("Invalid value: {shown}")
        } else {
            format!("Invalid value: {shown}: {detail}")
        };
        Cause::new("FieldValueInvalid", field, msg)
    }

    /// `field: Unsupported value: <v>: supported values: ...` (upstream `field.NotSupported`).
    pub fn not_supported(field: &str, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Cause::new(
            "FieldValueNotSupported",
            field,
            format!(
                "Unsupported value: {value:?}: supported values: {}",
                list.join(", ")
            ),
        )
    }

    /// `field: Forbidden: detail` (upstream `field.Forbidden`).
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Cause::new("FieldValueForbidden", field, format!("Forbidden: {detail}"))
    }

    /// `field: Not found: <v>` (upstream `field.NotFound`).
    pub fn not_found(field: &str, value: &Value) -> Self {
        Cause::new("FieldValueNotFound", field, format!("Not found: {value}"))
    }

    /// `field: Duplicate value: <v>` (upstream `field.Duplicate`).
    pub fn duplicate(field: &str, value: &Value) -> Self {
        Cause::new(
            "FieldValueDuplicate",
            field,
            format!("Duplicate value: {value}"),
        )
    }

    /// `field: Too long: may not be more than N bytes`.
    pub fn too_long(field: &str, max: usize) -> Self {
        Cause::new(
            "FieldValueTooLong",
            field,
            format!("Too long: may not be more than {max} bytes"),
        )
    }

    /// The `field: message` text upstream joins into the error message.
    pub fn display(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}
