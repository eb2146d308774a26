//! API errors as Kubernetes `Status` objects with upstream's codes, reasons and messages.

mod cause;

use serde_json::{Value, json};

pub use cause::Cause;

/// What a module below the handlers needs to build a `meta.k8s.io/v1` `Status` for its error
/// (patching, field management, field validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason` ("" for none, as upstream's internal errors).
    pub reason: &'static str,
    /// `Status.message`.
    pub message: String,
    /// `Status.details.causes`.
    pub causes: Vec<StatusCause>,
}

/// One `Status.details.causes` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCause {
    /// `reason` of the cause (e.g. `FieldManagerConflict`, `UnexpectedServerResponse`).
    pub reason: &'static str,
    /// `message`.
    pub message: String,
    /// `field` ("" when none).
    pub field: String,
}

/// An error answered to a client as a `Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason`.
    pub reason: &'static str,
    /// `Status.message`.
    pub message: String,
    /// `Status.details`, when any (boxed: errors travel in every `Result`).
    pub details: Option<Box<Value>>,
    /// `Retry-After` seconds, when any.
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// `s` quoted as Go's `%q` prints it (control characters as `\x00`-style escapes, printable
/// Unicode kept), so names in messages read as upstream's.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Group/kind/name identification used in `details`.
#[derive(Debug, Clone, Default)]
pub struct Target<'a> {
    /// API group ("" for core).
    pub group: &'a str,
    /// Resource plural (upstream puts the resource in `details.kind` for NotFound etc.).
    pub resource: &'a str,
    /// Object name.
    pub name: &'a str,
}

impl Target<'_> {
    /// `pods` or `deployments.apps`, as upstream's qualified resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self) -> Value {
        let mut d = serde_json::Map::new();
        if !self.name.is_empty() {
            d.insert("name".into(), json!(self.name));
        }
        if !self.group.is_empty() {
            d.insert("group".into(), json!(self.group));
        }
        if !self.resource.is_empty() {
            d.insert("kind".into(), json!(self.resource));
        }
        Value::Object(d)
    }
}

impl ApiError {
    fn plain(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// An error upstream answers without a reason (e.g. the 500 of an apply configuration
    /// with undeclared fields).
    pub fn unreasoned(code: u16, message: impl Into<String>) -> Self {
        Self::plain(code, "", message)
    }

    /// A webhook's refusal: its code and message, and its reason when it is one of the
    /// `StatusReason`s clients know.
    pub fn from_webhook(code: u16, reason: &str, message: String) -> Self {
        const KNOWN: &[&str] = &[
            "BadRequest",
            "Unauthorized",
            "Forbidden",
            "NotFound",
            "AlreadyExists",
            "Conflict",
            "Gone",
            "Invalid",
            "ServerTimeout",
            "Timeout",
            "TooManyRequests",
            "MethodNotAllowed",
            "NotAcceptable",
            "RequestEntityTooLarge",
            "UnsupportedMediaType",
            "InternalError",
            "Expired",
            "ServiceUnavailable",
        ];
        let reason = KNOWN.iter().find(|k| **k == reason).copied().unwrap_or("");
        Self::plain(code, reason, message)
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::plain(400, "BadRequest", message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::plain(401, "Unauthorized", "Unauthorized")
    }

    /// 403 Forbidden for an object.
    pub fn forbidden(target: Target<'_>, message: impl Into<String>) -> Self {
        let name = if target.name.is_empty() {
            String::new()
        } else {
            format!(" {}", go_quote(target.name))
        };
        let mut e = Self::plain(
            403,
            "Forbidden",
            format!(
                "{}{} is forbidden: {}",
                target.qualified(),
                name,
                message.into()
            ),
        );
        e.details = Some(Box::new(target.details()));
        e
    }

    /// 403 Forbidden not about a resource (non-resource paths); `message` is complete.
    pub fn forbidden_plain(message: impl Into<String>) -> Self {
        let mut e = Self::plain(403, "Forbidden", message);
        e.details = Some(Box::new(json!({})));
        e
    }

    /// 403 for a namespace being deleted (upstream's NamespaceTerminating cause).
    pub fn namespace_terminating(target: Target<'_>, namespace: &str) -> Self {
        let mut e = Self::forbidden(
            Target {
                name: target.name,
                ..target.clone()
            },
            format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ),
        );
        let mut details = target.details();
        if let Some(obj) = details.as_object_mut() {
            obj.insert(
                "causes".into(),
                json!([{
                    "reason": "NamespaceTerminating",
                    "message": format!("namespace {namespace} is being terminated"),
                    "field": "metadata.namespace"
                }]),
            );
        }
        e.details = Some(Box::new(details));
        e
    }

    /// 404 NotFound for an object.
    pub fn not_found(target: Target<'_>) -> Self {
        let mut e = Self::plain(
            404,
            "NotFound",
            format!("{} {} not found", target.qualified(), go_quote(target.name)),
        );
        e.details = Some(Box::new(target.details()));
        e
    }

    /// 404 for a path that names no resource (upstream's plain "the server could not find the
    /// requested resource").
    pub fn no_route() -> Self {
        let mut e = Self::plain(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details = Some(Box::new(json!({})));
        e
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(verb: &str, target: Target<'_>) -> Self {
        let mut e = Self::plain(
            405,
            "MethodNotAllowed",
            format!(
                "the server does not allow this method on the requested resource ({verb} {})",
                target.qualified()
            ),
        );
        e.details = Some(Box::new(target.details()));
        e
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(accept: &str) -> Self {
        Self::plain(
            406,
            "NotAcceptable",
            format!(
                "the server was unable to respond with a content type that the client supports ({accept})"
            ),
        )
    }

    /// 406 for an endpoint that serves only plain objects (upstream's negotiation error).
    pub fn not_acceptable_media() -> Self {
        Self::plain(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(target: Target<'_>) -> Self {
        let mut e = Self::plain(
            409,
            "AlreadyExists",
            format!(
                "{} {} already exists",
                target.qualified(),
                go_quote(target.name)
            ),
        );
        e.details = Some(Box::new(target.details()));
        e
    }

    /// 409 Conflict with upstream's message prefix.
    pub fn conflict(target: Target<'_>, detail: impl Into<String>) -> Self {
        let mut e = Self::plain(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {}: {}",
                target.qualified(),
                go_quote(target.name),
                detail.into()
            ),
        );
        e.details = Some(Box::new(target.details()));
        e
    }

    /// 409 Conflict for a stale resourceVersion on update.
    pub fn stale(target: Target<'_>) -> Self {
        Self::conflict(
            target,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 410 Expired for a resourceVersion no longer in the history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::plain(410, "Expired", message)
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(limit: usize) -> Self {
        Self::plain(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::plain(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf, application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    /// 422 Invalid with causes, as upstream's `NewInvalid`.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let joined = match causes.len() {
            0 => String::new(),
            1 => causes[0].display(),
            _ => format!(
                "[{}]",
                causes
                    .iter()
                    .map(Cause::display)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut details = serde_json::Map::new();
        details.insert("name".into(), json!(name));
        if !group.is_empty() {
            details.insert("group".into(), json!(group));
        }
        details.insert("kind".into(), json!(kind));
        details.insert(
            "causes".into(),
            Value::Array(
                causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect(),
            ),
        );
        // Upstream names the group-qualified kind (`GroupKind.String()`): `Deployment.apps`.
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut e = Self::plain(
            422,
            "Invalid",
            format!("{qualified} {} is invalid: {joined}", go_quote(name)),
        );
        e.details = Some(Box::new(Value::Object(details)));
        e
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        let mut e = Self::plain(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        );
        e.details = Some(Box::new(
            json!({"causes": [{"message": e.message.clone()}]}),
        ));
        e
    }

    /// 504 Timeout.
    pub fn timeout(message: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::plain(504, "Timeout", message);
        e.retry_after = Some(retry_after);
        e.details = Some(Box::new(json!({"retryAfterSeconds": retry_after})));
        e
    }

    /// 503 ServiceUnavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::plain(503, "ServiceUnavailable", message)
    }

    /// 429 TooManyRequests.
    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::plain(429, "TooManyRequests", message);
        e.retry_after = Some(retry_after);
        e.details = Some(Box::new(json!({"retryAfterSeconds": retry_after})));
        e
    }

    /// The error as a `meta/v1 Status` object.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty()
            && let Some(obj) = s.as_object_mut()
        {
            obj.remove("reason");
        }
        if let (Some(d), Some(obj)) = (&self.details, s.as_object_mut()) {
            obj.insert("details".into(), (**d).clone());
        }
        s
    }
}

/// A `Success` status as returned by deletes of collections and some subresources.
pub fn success_status(details: Option<Value>) -> Value {
    let mut s = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
    });
    if let (Some(d), Some(obj)) = (details, s.as_object_mut()) {
        obj.insert("details".into(), d);
    }
    s
}

/// Result alias for API operations.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_as_go_quotes_them() {
        assert_eq!(go_quote("web"), "\"web\"");
        assert_eq!(go_quote("\0"), "\"\\x00\"");
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("größe"), "\"größe\"");
        let e = ApiError::not_found(Target {
            group: "",
            resource: "namespaces",
            name: "\0",
        });
        assert_eq!(e.message, "namespaces \"\\x00\" not found");
    }

    #[test]
    fn not_found_matches_upstream() {
        let e = ApiError::not_found(Target {
            group: "apps",
            resource: "deployments",
            name: "web",
        });
        assert_eq!(e.message, "deployments.apps \"web\" not found");
        let s = e.to_status();
        assert_eq!(
            s["details"],
            json!({"name": "web", "group": "apps", "kind": "deployments"})
        );
        assert_eq!(s["code"], 404);
    }

    #[test]
    fn invalid_joins_causes_like_upstream() {
        let e = ApiError::invalid(
            "Pod",
            "",
            "Bad",
            vec![
                Cause::invalid(
                    "metadata.name",
                    &json!("Bad"),
                    "a lowercase RFC 1123 subdomain",
                ),
                Cause::required("spec.containers", ""),
            ],
        );
        assert_eq!(
            e.message,
            "Pod \"Bad\" is invalid: [metadata.name: Invalid value: \"Bad\": a lowercase RFC 1123 subdomain, spec.containers: Required value]"
        );
        assert_eq!(e.code, 422);
        let e = ApiError::invalid(
            "EndpointSlice",
            "discovery.k8s.io",
            "s",
            vec![Cause::required("addressType", "")],
        );
        assert_eq!(
            e.message,
            "EndpointSlice.discovery.k8s.io \"s\" is invalid: addressType: Required value"
        );
        assert_eq!(
            e.details.as_deref().and_then(|d| d.get("kind")),
            Some(&json!("EndpointSlice"))
        );
    }
}
