//! Validating and mutating webhook configurations (`admissionregistration.k8s.io/v1`):
//! upstream's defaults and validation. The webhooks themselves are called by
//! [`crate::webhook`].

use serde_json::{Value, json};

use crate::error::Cause;
use crate::registry::def::{Origin, Strategy};
use crate::table::printers::common::{AGE, Col, Doc, NAME, Printer, cells, created, name};

/// The strategy of `ValidatingWebhookConfiguration` and `MutatingWebhookConfiguration`.
#[derive(Debug, Clone, Copy)]
pub struct WebhookConfiguration {
    /// Mutating (has `reinvocationPolicy`) or validating.
    pub mutating: bool,
}

impl Strategy for WebhookConfiguration {
    fn defaults(&self, obj: &mut Value) {
        for w in webhooks_mut(obj) {
            defaults(w, self.mutating);
        }
    }

    fn validate(&self, _old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        let mut out = Vec::new();
        let hooks = new
            .get("webhooks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut names: Vec<String> = Vec::new();
        for (i, w) in hooks.iter().enumerate() {
            let p = format!("webhooks[{i}]");
            let name = w.get("name").and_then(Value::as_str).unwrap_or_default();
            if names.iter().any(|n| n == name) {
                out.push(Cause::duplicate(&format!("{p}.name"), &json!(name)));
            }
            names.push(name.to_string());
            validate_webhook(w, &p, self.mutating, &mut out);
        }
        out
    }
}

fn webhooks_mut(obj: &mut Value) -> impl Iterator<Item = &mut Value> {
    obj.get_mut("webhooks")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

fn set_default(o: &mut serde_json::Map<String, Value>, key: &str, v: Value) {
    if o.get(key).is_none_or(Value::is_null) {
        o.insert(key.to_string(), v);
    }
}

fn defaults(w: &mut Value, mutating: bool) {
    let Some(o) = w.as_object_mut() else { return };
    set_default(o, "failurePolicy", json!("Fail"));
    set_default(o, "matchPolicy", json!("Equivalent"));
    set_default(o, "namespaceSelector", json!({}));
    set_default(o, "objectSelector", json!({}));
    set_default(o, "timeoutSeconds", json!(10));
    if mutating {
        set_default(o, "reinvocationPolicy", json!("Never"));
    }
    if let Some(svc) = o
        .get_mut("clientConfig")
        .and_then(|c| c.get_mut("service"))
        .and_then(Value::as_object_mut)
    {
        set_default(svc, "port", json!(443));
    }
    for r in o
        .get_mut("rules")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(r) = r.as_object_mut() {
            set_default(r, "scope", json!("*"));
        }
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn one_of(out: &mut Vec<Cause>, field: &str, value: Option<&str>, allowed: &[&str]) {
    if let Some(v) = value
        && !allowed.contains(&v)
    {
        out.push(Cause::not_supported(field, v, allowed));
    }
}

fn validate_webhook(w: &Value, p: &str, mutating: bool, out: &mut Vec<Cause>) {
    let name = str_at(w, "name").unwrap_or_default();
    if name.is_empty() {
        out.push(Cause::required(&format!("{p}.name"), ""));
    } else if name.split('.').count() < 3 || !crds::tenancy::is_dns1123_subdomain(name) {
        out.push(Cause::invalid(
            &format!("{p}.name"),
            &json!(name),
            "should be a domain with at least three segments separated by dots",
        ));
    }
    match w.get("sideEffects").and_then(Value::as_str) {
        None => out.push(Cause::required(
            &format!("{p}.sideEffects"),
            "must specify one of None, NoneOnDryRun",
        )),
        v => one_of(
            out,
            &format!("{p}.sideEffects"),
            v,
            &["None", "NoneOnDryRun"],
        ),
    }
    let versions: Vec<&str> = w
        .get("admissionReviewVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !versions.iter().any(|v| *v == "v1" || *v == "v1beta1") {
        out.push(Cause::required(
            &format!("{p}.admissionReviewVersions"),
            "must specify one of v1, v1beta1",
        ));
    }
    one_of(
        out,
        &format!("{p}.failurePolicy"),
        str_at(w, "failurePolicy"),
        &["Ignore", "Fail"],
    );
    one_of(
        out,
        &format!("{p}.matchPolicy"),
        str_at(w, "matchPolicy"),
        &["Exact", "Equivalent"],
    );
    if mutating {
        one_of(
            out,
            &format!("{p}.reinvocationPolicy"),
            str_at(w, "reinvocationPolicy"),
            &["Never", "IfNeeded"],
        );
    }
    if let Some(t) = w.get("timeoutSeconds").and_then(Value::as_i64)
        && !(1..=30).contains(&t)
    {
        out.push(Cause::invalid(
            &format!("{p}.timeoutSeconds"),
            &json!(t),
            "the timeout value must be between 1 and 30 seconds",
        ));
    }
    validate_client_config(w.get("clientConfig").unwrap_or(&Value::Null), p, out);
    for (i, r) in w
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        validate_rule(r, &format!("{p}.rules[{i}]"), out);
    }
}

fn validate_client_config(c: &Value, p: &str, out: &mut Vec<Cause>) {
    let field = format!("{p}.clientConfig");
    match (c.get("url").and_then(Value::as_str), c.get("service")) {
        (Some(url), None) => {
            let scheme = url.split_once("://").map_or("", |(s, _)| s);
            if scheme != "https" {
                out.push(Cause::invalid(
                    &format!("{field}.url"),
                    &json!(scheme),
                    "'https' is the only allowed URL scheme; desired format: https://host[/path]",
                ));
            }
        }
        (None, Some(svc)) if !svc.is_null() => {
            for k in ["namespace", "name"] {
                if str_at(svc, k).unwrap_or_default().is_empty() {
                    out.push(Cause::required(&format!("{field}.service.{k}"), ""));
                }
            }
            if let Some(path) = str_at(svc, "path")
                && !path.starts_with('/')
            {
                out.push(Cause::invalid(
                    &format!("{field}.service.path"),
                    &json!(path),
                    "must start with a '/'",
                ));
            }
        }
        _ => out.push(Cause::required(
            &field,
            "exactly one of url or service is required",
        )),
    }
}

fn validate_rule(r: &Value, p: &str, out: &mut Vec<Cause>) {
    for k in ["operations", "apiGroups", "apiVersions", "resources"] {
        let empty = r
            .get(k)
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty());
        if empty {
            out.push(Cause::required(&format!("{p}.{k}"), ""));
        }
    }
    for (i, op) in r
        .get("operations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        one_of(
            out,
            &format!("{p}.operations[{i}]"),
            op.as_str(),
            &["*", "CREATE", "UPDATE", "DELETE", "CONNECT"],
        );
    }
    one_of(
        out,
        &format!("{p}.scope"),
        str_at(r, "scope"),
        &["Cluster", "Namespaced", "*"],
    );
}

/// Upstream's printer for both configuration kinds: `NAME WEBHOOKS AGE`.
pub fn printer() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Webhooks",
                "integer",
                0,
                Doc::Text("Webhooks indicates the number of webhooks in the configuration."),
            ),
            AGE,
        ],
        print: |o, now| {
            let count = o
                .get("webhooks")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            cells([name(o), json!(count), created(o, now)])
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation_as_upstream() {
        let s = WebhookConfiguration { mutating: true };
        let mut obj = json!({"webhooks": [{"name": "a.example.com", "sideEffects": "None",
            "admissionReviewVersions": ["v1"], "clientConfig": {"service": {"namespace": "n", "name": "s"}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}]});
        s.defaults(&mut obj);
        let w = &obj["webhooks"][0];
        assert_eq!(w["failurePolicy"], "Fail");
        assert_eq!(w["timeoutSeconds"], 10);
        assert_eq!(w["reinvocationPolicy"], "Never");
        assert_eq!(w["clientConfig"]["service"]["port"], 443);
        assert_eq!(w["rules"][0]["scope"], "*");
        assert!(s.validate(None, &obj, Origin::Client).is_empty());
        let bad = json!({"webhooks": [{"name": "short", "clientConfig": {"url": "http://x"}, "timeoutSeconds": 31},
            {"name": "short", "sideEffects": "Some", "admissionReviewVersions": ["v1"], "clientConfig": {}}]});
        let causes: Vec<String> = s
            .validate(None, &bad, Origin::Client)
            .iter()
            .map(Cause::display)
            .collect();
        for want in [
            "webhooks[0].name: Invalid value",
            "webhooks[0].sideEffects: Required value",
            "webhooks[0].admissionReviewVersions: Required value",
            "webhooks[0].timeoutSeconds: Invalid value: 31",
            "'https' is the only allowed URL scheme",
            "webhooks[1].name: Duplicate value",
            "webhooks[1].sideEffects: Unsupported value",
            "webhooks[1].clientConfig: Required value: exactly one of url or service is required",
        ] {
            assert!(
                causes.iter().any(|c| c.contains(want)),
                "{want} in {causes:?}"
            );
        }
    }
}
