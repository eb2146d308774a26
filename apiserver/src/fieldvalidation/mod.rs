//! `fieldValidation` (Ignore/Warn/Strict): decoding request bodies as upstream's strict decoder
//! does.
//!
//! [`decode_body`] parses a JSON or YAML body in one pass against the schema, keeping the last
//! of duplicate keys (as upstream decodes), dropping unknown fields (as upstream's typed decoding
//! and CRD pruning do) and collecting upstream's strict errors in document order, deduplicated
//! and capped at 100: `unknown field "spec.containers[0].foo"`, `duplicate field "spec.replicas"`
//! (JSON) or go-yaml's `yaml: unmarshal errors:\n  line N: key "x" already set in map` (YAML).
//! With `check_types` (built-in kinds) a value of the wrong JSON type is a decode error, as Go's
//! typed decoding makes it. [`Directive::outcome`] turns the errors into the 400 (Strict) or the
//! `Warning` headers (Warn) upstream answers with. Known deviations: type errors name the schema
//! type (`integer`) rather than the Go type (`int32`); YAML duplicate line numbers are found by a
//! textual scan and are wrong for flow-style (`{a: 1, a: 2}`) mappings.

mod decode;
mod error;
#[cfg(test)]
mod tests;
mod undeclared;

use crate::error::{StatusCause, StatusInfo};

pub use error::{FieldValidationError, StrictError};
use error::{bad_request, go_quote};

pub use decode::{BodyFormat, Decoded, decode_body, prune_unknown_fields};
pub use undeclared::{typed_patch_message, undeclared_fields};

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// Drop unknown/duplicate fields silently.
    Ignore,
    /// Drop them and answer with `Warning` headers (upstream's default).
    Warn,
    /// Reject the request.
    Strict,
}

/// What the handler does after decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Go on; add these values as `Warning` response headers.
    Proceed {
        /// Full header values (`299 - "unknown field \"spec.foo\""`).
        warnings: Vec<String>,
    },
    /// Answer with this status.
    Reject(StatusInfo),
}

impl Directive {
    /// Parses the query parameter; absent means `Warn`, as upstream.
    pub fn from_query(value: Option<&str>) -> Result<Directive, FieldValidationError> {
        match value {
            None | Some("") | Some("Warn") => Ok(Directive::Warn),
            Some("Ignore") => Ok(Directive::Ignore),
            Some("Strict") => Ok(Directive::Strict),
            Some(other) => Err(FieldValidationError::InvalidDirective(other.to_owned())),
        }
    }

    /// The outcome for a create/update body of `kind` in `version` with these strict errors.
    pub fn outcome(self, errors: &[StrictError], kind: &str, version: &str) -> Outcome {
        if errors.is_empty() || self == Directive::Ignore {
            return Outcome::Proceed {
                warnings: Vec::new(),
            };
        }
        match self {
            Directive::Strict => Outcome::Reject(bad_request(format!(
                "{kind} in version {version:?} cannot be handled as a {kind}: {}",
                strict_decoding_message(errors)
            ))),
            _ => Outcome::Proceed {
                warnings: errors
                    .iter()
                    .map(|e| warning_header(&e.to_string()))
                    .collect(),
            },
        }
    }

    /// The outcome for a patch (merge, JSON or strategic) whose result had these strict errors:
    /// upstream reports them as a 422 on the field `patch`.
    pub fn patch_outcome(self, errors: &[StrictError], patched: &str) -> Outcome {
        if self != Directive::Strict || errors.is_empty() {
            return self.outcome(errors, "", "");
        }
        let detail = strict_decoding_message(errors);
        Outcome::Reject(StatusInfo {
            code: 422,
            reason: "Invalid",
            message: format!(" \"\" is invalid: patch: Invalid value: {patched:?}: {detail}"),
            causes: vec![StatusCause {
                reason: "FieldValueInvalid",
                message: format!("Invalid value: {patched:?}: {detail}"),
                field: "patch".to_owned(),
            }],
        })
    }
}

/// `strict decoding error: e1, e2` (runtime.StrictDecodingError's message).
pub fn strict_decoding_message(errors: &[StrictError]) -> String {
    let joined: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("strict decoding error: {}", joined.join(", "))
}

/// A `Warning` header value as upstream writes it: code 299, agent `-`, quoted text.
pub fn warning_header(text: &str) -> String {
    format!("299 - {}", go_quote(text))
}
