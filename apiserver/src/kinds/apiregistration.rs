//! `apiregistration.k8s.io/v1` APIService: upstream's validation and printer. The local
//! APIServices of every served group-version are kept by the `apiservice-registration` loop.

use serde_json::{Value, json};

use crate::error::Cause;
use crate::registry::def::{Origin, Strategy};
use crate::table::printers::common::{AGE, Col, Doc, NAME, Printer, cells, created, name};

/// Label of the APIServices the server registers itself (`onstart`: built-in groups, `true`:
/// CRD groups).
pub const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";

/// The APIService strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiService;

impl Strategy for ApiService {
    /// `v1.` (the core group) is a valid name: the rule is `<version>.<group>`, checked below.
    fn name_rule(&self) -> crate::kinds::names::NameRule {
        crate::kinds::names::NameRule::PathSegment
    }

    fn validate(&self, _old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        let mut out = Vec::new();
        let spec = new.get("spec").unwrap_or(&Value::Null);
        let s = |k: &str| spec.get(k).and_then(Value::as_str).unwrap_or_default();
        let (group, version) = (s("group"), s("version"));
        let want = format!("{version}.{group}");
        let name = crate::meta::name(new);
        if name != want {
            out.push(Cause::invalid(
                "metadata.name",
                &json!(name),
                &format!("must be `spec.version+\".\"+spec.group`: \"{want}\""),
            ));
        }
        if version.is_empty() {
            out.push(Cause::required("spec.version", ""));
        }
        let priority = |k: &str, max: i64, out: &mut Vec<Cause>| {
            let v = spec.get(k).and_then(Value::as_i64).unwrap_or(0);
            if v <= 0 || v > max {
                out.push(Cause::invalid(
                    &format!("spec.{k}"),
                    &json!(v),
                    &format!("must be positive and less than {max}"),
                ));
            }
        };
        priority("groupPriorityMinimum", 20000, &mut out);
        priority("versionPriority", 1000, &mut out);
        let insecure = spec.get("insecureSkipTLSVerify").and_then(Value::as_bool) == Some(true);
        let ca = !s("caBundle").is_empty();
        if spec.get("service").is_none_or(Value::is_null) {
            if ca {
                out.push(Cause::invalid(
                    "spec.caBundle",
                    &json!(s("caBundle")),
                    "local APIServices may not have a caBundle",
                ));
            }
            if insecure {
                out.push(Cause::invalid(
                    "spec.insecureSkipTLSVerify",
                    &json!(true),
                    "local APIServices may not have insecureSkipTLSVerify",
                ));
            }
        } else if insecure && ca {
            out.push(Cause::invalid(
                "spec.insecureSkipTLSVerify",
                &json!(true),
                "may not be true if caBundle is present",
            ));
        }
        out
    }

    fn defaults(&self, obj: &mut Value) {
        if let Some(svc) = obj
            .pointer_mut("/spec/service")
            .and_then(Value::as_object_mut)
        {
            svc.entry("port").or_insert(json!(443));
        }
    }
}

/// `True`, or `False (Reason)`, from the `Available` condition.
fn available(o: &Value) -> String {
    let cond = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Available"));
    match cond {
        None => "Unknown".into(),
        Some(c) => {
            let status = c.get("status").and_then(Value::as_str).unwrap_or("Unknown");
            match c.get("reason").and_then(Value::as_str) {
                Some(r) if status != "True" && !r.is_empty() => format!("{status} ({r})"),
                _ => status.to_string(),
            }
        }
    }
}

/// Upstream's printer: `NAME SERVICE AVAILABLE AGE`.
pub fn printer() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Service",
                "string",
                0,
                Doc::Text("The reference to the service that hosts this API endpoint."),
            ),
            Col(
                "Available",
                "string",
                0,
                Doc::Text("Whether this service is available."),
            ),
            AGE,
        ],
        print: |o, now| {
            let service = match o.pointer("/spec/service").filter(|s| !s.is_null()) {
                Some(s) => format!(
                    "{}/{}",
                    s.get("namespace")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    s.get("name").and_then(Value::as_str).unwrap_or_default()
                ),
                None => "Local".into(),
            };
            cells([
                name(o),
                json!(service),
                json!(available(o)),
                created(o, now),
            ])
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_as_upstream() {
        let ok = json!({"metadata": {"name": "v1.apps"}, "spec": {"group": "apps", "version": "v1", "groupPriorityMinimum": 17800, "versionPriority": 15}});
        assert!(ApiService.validate(None, &ok, Origin::Client).is_empty());
        let core = json!({"metadata": {"name": "v1."}, "spec": {"version": "v1", "groupPriorityMinimum": 18000, "versionPriority": 1}});
        assert!(ApiService.validate(None, &core, Origin::Client).is_empty());
        let bad = json!({"metadata": {"name": "x"}, "spec": {"group": "g.io", "version": "v1", "caBundle": "Zm9v"}});
        let causes: Vec<String> = ApiService
            .validate(None, &bad, Origin::Client)
            .iter()
            .map(Cause::display)
            .collect();
        assert_eq!(causes.len(), 4, "{causes:?}");
        assert!(causes[0].contains(r#"must be `spec.version+"."+spec.group`: "v1.g.io""#));
    }
}
