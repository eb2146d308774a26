//! Name validation with upstream's messages.

use serde_json::json;

use crate::error::Cause;

/// How a kind's names are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (namespaces).
    Label,
    /// RFC 1035 label (services).
    Dns1035,
    /// Any path segment (events, RBAC).
    PathSegment,
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// Problems with `name` under `rule`, reported at `field`.
pub fn validate_name(rule: NameRule, field: &str, name: &str) -> Vec<Cause> {
    let mut out = Vec::new();
    let v = json!(name);
    match rule {
        NameRule::Subdomain => {
            if name.len() > 253 {
                out.push(Cause::invalid(
                    field,
                    &v,
                    "must be no more than 253 characters",
                ));
            }
            if !crds::tenancy::is_dns1123_subdomain(name) || name.len() > 253 {
                out.push(Cause::invalid(field, &v, SUBDOMAIN_MSG));
            }
        }
        NameRule::Label => {
            if name.len() > 63 {
                out.push(Cause::invalid(
                    field,
                    &v,
                    "must be no more than 63 characters",
                ));
            }
            if !is_label_chars(name) {
                out.push(Cause::invalid(field, &v, LABEL_MSG));
            }
        }
        NameRule::Dns1035 => {
            if name.len() > 63 {
                out.push(Cause::invalid(
                    field,
                    &v,
                    "must be no more than 63 characters",
                ));
            }
            if !is_label_chars(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                out.push(Cause::invalid(field, &v, DNS1035_MSG));
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                out.push(Cause::invalid(field, &v, &format!("may not be '{name}'")));
            }
            for bad in ["/", "%"] {
                if name.contains(bad) {
                    out.push(Cause::invalid(
                        field,
                        &v,
                        &format!("may not contain '{bad}'"),
                    ));
                }
            }
        }
    }
    out
}

fn is_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `s` is an RFC 1123 label (for container names, port names...).
pub fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && is_label_chars(s)
}

/// The label-rule message for other fields (container names etc.).
pub fn label_message() -> &'static str {
    LABEL_MSG
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(validate_name(NameRule::Subdomain, "metadata.name", "a.b-c").is_empty());
        assert_eq!(
            validate_name(NameRule::Subdomain, "metadata.name", "Bad").len(),
            1
        );
        assert!(validate_name(NameRule::Label, "metadata.name", "a.b").len() == 1);
        assert!(validate_name(NameRule::Dns1035, "metadata.name", "1abc").len() == 1);
        assert!(validate_name(NameRule::PathSegment, "metadata.name", "system:admin").is_empty());
        assert!(!validate_name(NameRule::PathSegment, "metadata.name", "a/b").is_empty());
    }
}
