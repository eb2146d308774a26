//! Field validation errors and the `Status` upstream answers them with.

use std::fmt;

use crate::error::StatusInfo;

/// Errors decoding a request body.
#[derive(Debug, thiserror::Error)]
pub enum FieldValidationError {
    /// `fieldValidation` has a value upstream does not accept.
    #[error(
        "fieldValidation parameter {0:?} is not supported, must be one of Ignore, Warn, Strict"
    )]
    InvalidDirective(String),
    /// The body is not valid JSON/YAML.
    #[error("{0}")]
    Syntax(String),
    /// A value has the wrong JSON type for its field (fatal, as in Go's typed decoding).
    #[error("json: cannot unmarshal {got} into Go struct field {path} of type {expected}")]
    Type {
        /// The field path.
        path: String,
        /// The JSON type found.
        got: &'static str,
        /// The schema type expected.
        expected: &'static str,
    },
}

impl FieldValidationError {
    /// The 400 upstream answers for a body that cannot be decoded as `kind` of `version`.
    pub fn status(&self, kind: &str, version: &str) -> StatusInfo {
        let message = match self {
            FieldValidationError::InvalidDirective(_) => self.to_string(),
            _ => format!("{kind} in version {version:?} cannot be handled as a {kind}: {self}"),
        };
        bad_request(message)
    }
}

/// One strict decoding error.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StrictError {
    /// A field the schema does not declare.
    UnknownField(String),
    /// A key given twice in one JSON object.
    DuplicateField(String),
    /// go-yaml's duplicate-key report for a YAML body (`line N: key "x" already set in map`
    /// entries).
    YamlDuplicates(Vec<String>),
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictError::UnknownField(path) => write!(f, "unknown field {}", go_quote(path)),
            StrictError::DuplicateField(path) => write!(f, "duplicate field {}", go_quote(path)),
            StrictError::YamlDuplicates(lines) => {
                write!(f, "yaml: unmarshal errors:\n  {}", lines.join("\n  "))
            }
        }
    }
}

/// Go's `strconv.Quote` for the ASCII text these messages contain.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn bad_request(message: String) -> StatusInfo {
    StatusInfo {
        code: 400,
        reason: "BadRequest",
        message,
        causes: Vec::new(),
    }
}
