//! CustomResourceDefinitions (validation, establishing) and custom resources (schema
//! validation, pruning and defaulting against the structural schema).

use serde_json::{Value, json};

use crate::error::Cause;
use crate::registry::def::{Origin, Strategy};

/// The finalizer upstream puts on CRDs so their custom resources are deleted first.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// CRD defaults: singular and list kind names, conversion strategy.
pub fn defaults(crd: &mut Value) {
    let kind = crd
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(names) = crd
        .pointer_mut("/spec/names")
        .and_then(Value::as_object_mut)
        && !kind.is_empty()
    {
        names
            .entry("singular")
            .or_insert_with(|| json!(kind.to_ascii_lowercase()));
        names
            .entry("listKind")
            .or_insert_with(|| json!(format!("{kind}List")));
    }
    if let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("conversion")
            .or_insert_with(|| json!({"strategy": "None"}));
    }
}

/// CRD validation (the rules a v1 API server applies).
pub fn validate(_old: Option<&Value>, new: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let s = |p: &str| new.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let (group, plural, kind) = (
        s("/spec/group"),
        s("/spec/names/plural"),
        s("/spec/names/kind"),
    );
    if group.is_empty() {
        out.push(Cause::required("spec.group", ""));
    } else if !group.contains('.') {
        out.push(Cause::invalid(
            "spec.group",
            &json!(group),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        out.push(Cause::required("spec.names.plural", ""));
    }
    if kind.is_empty() {
        out.push(Cause::required("spec.names.kind", ""));
    }
    let name = crate::meta::name(new);
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        out.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let scope = s("/spec/scope");
    if scope != "Namespaced" && scope != "Cluster" {
        out.push(Cause::not_supported(
            "spec.scope",
            scope,
            &["Cluster", "Namespaced"],
        ));
    }
    let versions = new
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        out.push(Cause::invalid(
            "spec.versions",
            &json!(versions),
            "must have exactly one version marked as storage version",
        ));
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage") == Some(&json!(true)))
        .count();
    if !versions.is_empty() && storage != 1 {
        out.push(Cause::invalid(
            "spec.versions",
            &json!(versions.len()),
            "must have exactly one version marked as storage version",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        let vname = v.get("name").and_then(Value::as_str).unwrap_or_default();
        if !crate::kinds::names::is_dns_label(vname) {
            out.push(Cause::invalid(
                &format!("spec.versions[{i}].name"),
                &json!(vname),
                crate::kinds::names::label_message(),
            ));
        }
        match v.pointer("/schema/openAPIV3Schema") {
            None => out.push(Cause::required(
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "schemas are required",
            )),
            Some(schema) => structural(
                schema,
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                true,
                &mut out,
            ),
        }
    }
    out
}

/// Structural-schema rules (every node typed, no `$ref`, ...).
fn structural(s: &Value, path: &str, root: bool, out: &mut Vec<Cause>) {
    let has = |k: &str| s.get(k).is_some();
    let preserve = s.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    let int_or_string = s.get("x-kubernetes-int-or-string") == Some(&json!(true));
    let empty_root = root && s.as_object().is_some_and(|o| o.is_empty());
    if !(has("type") || preserve || int_or_string || empty_root) {
        out.push(Cause::required(
            &format!("{path}.type"),
            "must not be empty for specified object fields",
        ));
    }
    if root
        && s.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "object")
    {
        out.push(Cause::invalid(
            &format!("{path}.type"),
            s.get("type").unwrap_or(&Value::Null),
            "must be object at the root",
        ));
    }
    for forbidden in [
        "$ref",
        "definitions",
        "id",
        "dependencies",
        "patternProperties",
    ] {
        if has(forbidden) {
            out.push(Cause::forbidden(
                &format!("{path}.{forbidden}"),
                &format!("{forbidden} is not supported"),
            ));
        }
    }
    if has("properties") && has("additionalProperties") {
        out.push(Cause::forbidden(
            &format!("{path}.additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if s.get("type").and_then(Value::as_str) == Some("array") && !has("items") {
        out.push(Cause::required(
            &format!("{path}.items"),
            "must be specified",
        ));
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, child) in props {
            if root && k == "metadata" {
                continue;
            }
            structural(child, &format!("{path}.properties[{k}]"), false, out);
        }
    }
    if let Some(items) = s.get("items") {
        if items.is_array() {
            out.push(Cause::forbidden(
                &format!("{path}.items"),
                "items must be a schema object and not an array",
            ));
        } else {
            structural(items, &format!("{path}.items"), false, out);
        }
    }
    if let Some(ap) = s.get("additionalProperties").filter(|v| v.is_object()) {
        structural(ap, &format!("{path}.additionalProperties"), false, out);
    }
}

/// Marks a new CRD established and adds the cleanup finalizer (the server's CRD controllers do
/// this right after creation upstream).
pub fn admit_create(crd: &mut Value) {
    let mut fins = crate::meta::finalizers(crd);
    if !fins.iter().any(|f| f == CLEANUP_FINALIZER) {
        fins.push(CLEANUP_FINALIZER.to_string());
        crate::meta::set_finalizers(crd, &fins);
    }
    refresh_status(crd, None);
}

/// Recomputes `acceptedNames`, `storedVersions` and the conditions of a CRD.
pub fn refresh_status(crd: &mut Value, old: Option<&Value>) {
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let storage: Vec<String> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut stored: Vec<String> = old
        .or(Some(&*crd))
        .and_then(|o| o.pointer("/status/storedVersions"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for s in storage {
        if !stored.contains(&s) {
            stored.push(s);
        }
    }
    let now = crate::meta::now();
    let prev_conditions = old
        .and_then(|o| o.pointer("/status/conditions"))
        .cloned()
        .unwrap_or(json!([]));
    let since = |t: &str| {
        prev_conditions
            .as_array()
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
            })
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now))
    };
    let terminating = crate::meta::is_deleting(crd);
    let mut conditions = vec![
        json!({"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": since("NamesAccepted")}),
        json!({"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": since("Established")}),
    ];
    if terminating {
        conditions.push(json!({"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress", "lastTransitionTime": since("Terminating")}));
    }
    // Conditions of other types belong to whoever wrote them (through `/status`).
    const MANAGED: &[&str] = &["NamesAccepted", "Established", "Terminating"];
    let written = crd
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conditions.extend(
        written.into_iter().filter(|c| {
            !MANAGED.contains(&c.get("type").and_then(Value::as_str).unwrap_or_default())
        }),
    );
    if let Some(o) = crd.as_object_mut() {
        o.insert(
            "status".into(),
            json!({"acceptedNames": names, "conditions": conditions, "storedVersions": stored}),
        );
    }
}

/// The CustomResourceDefinition strategy: defaults, validation, status the server computes,
/// and a change of served resources on every write.
#[derive(Debug)]
pub struct Crd;

impl Strategy for Crd {
    fn after_decode(&self, obj: &mut Value) {
        defaults(obj);
    }
    fn validate(&self, old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        validate(old, new)
    }
    fn admit_create(
        &self,
        _ctx: &crate::registry::def::Ctx<'_>,
        obj: &mut Value,
    ) -> crate::error::ApiResult<()> {
        admit_create(obj);
        Ok(())
    }
    fn prepare_update(&self, old: &Value, new: &mut Value) {
        refresh_status(new, Some(old));
    }
    fn changes_served_resources(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_rules() {
        let bad = json!({"metadata": {"name": "x"}, "spec": {"group": "nodot", "names": {"plural": "foos", "kind": "Foo"}, "scope": "Namespaced", "versions": []}});
        assert!(validate(None, &bad).len() >= 3);
    }
}
