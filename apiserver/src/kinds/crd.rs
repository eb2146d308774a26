//! CustomResourceDefinitions (validation, establishing) and custom resources (schema
//! validation, pruning and defaulting against the structural schema).

use serde_json::{Map, Value, json};

use crate::error::Cause;
use crate::registry::ResourceDef;

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
    if let Some(o) = crd.as_object_mut() {
        o.insert(
            "status".into(),
            json!({"acceptedNames": names, "conditions": conditions, "storedVersions": stored}),
        );
    }
}

/// Validation of a custom resource against its version's schema.
pub fn validate_custom_resource(def: &ResourceDef, obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let Some(schema) = def.crd.as_ref().and_then(|c| c.schema.as_ref()) else {
        return out;
    };
    if let (Some(props), Some(o)) = (
        schema.get("properties").and_then(Value::as_object),
        obj.as_object(),
    ) {
        for (k, v) in o {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(ps) = props.get(k) {
                validate_value(ps, v, k, &mut out);
            }
        }
        if let Some(req) = schema.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if !o.contains_key(r) {
                    out.push(Cause::required(r, ""));
                }
            }
        }
    }
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn validate_value(s: &Value, v: &Value, path: &str, out: &mut Vec<Cause>) {
    if v.is_null() {
        if s.get("nullable") != Some(&json!(true)) {
            let t = s.get("type").and_then(Value::as_str).unwrap_or("object");
            out.push(Cause::invalid(
                path,
                &json!("null"),
                &format!("{path} in body must be of type {t}: \"null\""),
            ));
        }
        return;
    }
    if s.get("x-kubernetes-int-or-string") == Some(&json!(true)) {
        if !(v.is_string() || v.is_i64() || v.is_u64()) {
            out.push(Cause::invalid(
                path,
                v,
                &format!(
                    "{path} in body must be of type integer,string: {:?}",
                    type_name(v)
                ),
            ));
        }
        return;
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let actual = type_name(v);
        let ok = actual == t || (t == "number" && actual == "integer");
        if !ok {
            out.push(Cause::invalid(
                path,
                &json!(actual),
                &format!("{path} in body must be of type {t}: {actual:?}"),
            ));
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        let allowed: Vec<String> = e
            .iter()
            .map(|x| {
                x.as_str()
                    .map(|s| format!("{s:?}"))
                    .unwrap_or_else(|| x.to_string())
            })
            .collect();
        let shown = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        out.push(Cause::new(
            "FieldValueNotSupported",
            path,
            format!(
                "Unsupported value: {shown:?}: supported values: {}",
                allowed.join(", ")
            ),
        ));
    }
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                let excl = s.get("exclusiveMinimum") == Some(&json!(true));
                if x < min || (excl && x == min) {
                    out.push(Cause::invalid(
                        path,
                        v,
                        &format!("{path} in body should be greater than or equal to {min}"),
                    ));
                }
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                let excl = s.get("exclusiveMaximum") == Some(&json!(true));
                if x > max || (excl && x == max) {
                    out.push(Cause::invalid(
                        path,
                        v,
                        &format!("{path} in body should be less than or equal to {max}"),
                    ));
                }
            }
        }
        Value::String(st) => {
            let len = st.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                out.push(Cause::invalid(
                    path,
                    v,
                    &format!("{path} in body should be at least {min} chars long"),
                ));
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                out.push(Cause::too_long(
                    path,
                    usize::try_from(max).unwrap_or(usize::MAX),
                ));
            }
            if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                match regex::Regex::new(p) {
                    Ok(re) if !re.is_match(st) => out.push(Cause::invalid(
                        path,
                        v,
                        &format!("{path} in body should match '{p}'"),
                    )),
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                out.push(Cause::invalid(
                    path,
                    &json!(items.len()),
                    &format!("{path} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > max
            {
                out.push(Cause::new(
                    "FieldValueTooMany",
                    path,
                    format!("Too many: {}: must have at most {max} items", items.len()),
                ));
            }
            if let Some(is) = s.get("items") {
                for (i, it) in items.iter().enumerate() {
                    validate_value(is, it, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(o) => {
            if let Some(req) = s.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !o.contains_key(r) {
                        out.push(Cause::required(&format!("{path}.{r}"), ""));
                    }
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in o {
                if let Some(ps) = props.and_then(|p| p.get(k)) {
                    validate_value(ps, child, &format!("{path}.{k}"), out);
                } else if let Some(ap) = additional {
                    validate_value(ap, child, &format!("{path}[{k}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Removes fields the schema does not know (upstream pruning) and applies schema defaults.
pub fn prune_and_default(schema: &Value, obj: &mut Value) {
    if let Some(o) = obj.as_object_mut() {
        let props = schema.get("properties").and_then(Value::as_object);
        let keep_meta = ["apiVersion", "kind", "metadata"];
        let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
        if !preserve {
            o.retain(|k, _| {
                keep_meta.contains(&k.as_str()) || props.is_some_and(|p| p.contains_key(k))
            });
        }
        if let Some(p) = props {
            apply_defaults(p, o);
            for (k, child) in o.iter_mut() {
                if keep_meta.contains(&k.as_str()) {
                    continue;
                }
                if let Some(cs) = p.get(k) {
                    prune_value(cs, child);
                }
            }
        }
    }
}

fn apply_defaults(props: &Map<String, Value>, o: &mut Map<String, Value>) {
    for (k, ps) in props {
        if !o.contains_key(k)
            && let Some(d) = ps.get("default")
        {
            o.insert(k.clone(), d.clone());
        }
    }
}

fn prune_value(s: &Value, v: &mut Value) {
    if s.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true))
        && s.get("properties").is_none()
        && s.get("additionalProperties").is_none()
        && s.get("items").is_none()
    {
        return;
    }
    match v {
        Value::Object(o) => {
            let preserve = s.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                if !preserve {
                    let embedded = s.get("x-kubernetes-embedded-resource") == Some(&json!(true));
                    o.retain(|k, _| {
                        props.contains_key(k)
                            || (embedded
                                && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    });
                }
                apply_defaults(props, o);
                for (k, child) in o.iter_mut() {
                    if let Some(cs) = props.get(k) {
                        prune_value(cs, child);
                    }
                }
            } else if let Some(ap) = s.get("additionalProperties").filter(|a| a.is_object()) {
                for child in o.values_mut() {
                    prune_value(ap, child);
                }
            } else if !preserve && s.get("type").and_then(Value::as_str) == Some("object") {
                o.clear();
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for it in items.iter_mut() {
                    prune_value(is, it);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_unknown_and_defaults() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "size": {"type": "integer", "default": 3}, "keep": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}});
        let mut obj = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}, "spec": {"junk": 1, "keep": {"any": 1}}, "other": 2});
        prune_and_default(&schema, &mut obj);
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}, "spec": {"keep": {"any": 1}, "size": 3}})
        );
    }

    #[test]
    fn type_errors_use_upstream_wording() {
        let mut out = Vec::new();
        validate_value(
            &json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
            &json!({"n": "x"}),
            "spec",
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].display(),
            "spec.n: Invalid value: \"string\": spec.n in body must be of type integer: \"string\""
        );
    }

    #[test]
    fn crd_rules() {
        let bad = json!({"metadata": {"name": "x"}, "spec": {"group": "nodot", "names": {"plural": "foos", "kind": "Foo"}, "scope": "Namespaced", "versions": []}});
        assert!(validate(None, &bad).len() >= 3);
    }
}
