//! Custom resources: schema validation, pruning and defaulting against the structural schema
//! of their CRD version.

use serde_json::{Map, Value, json};

use crate::error::Cause;
use crate::registry::def::{ResourceDef, Strategy};

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
    if s.get("x-kubernetes-embedded-resource") == Some(&json!(true))
        && let Some(o) = v.as_object()
    {
        validate_embedded(path, o, out);
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

/// An embedded resource must name its `apiVersion` (a group/version) and `kind`.
fn validate_embedded(path: &str, o: &Map<String, Value>, out: &mut Vec<Cause>) {
    for key in ["apiVersion", "kind"] {
        let field = format!("{path}.{key}");
        match o.get(key) {
            None => out.push(Cause::required(&field, "must not be empty")),
            Some(Value::String(t)) if t.is_empty() => {
                out.push(Cause::invalid(&field, &json!(t), "must not be empty"))
            }
            Some(Value::String(t)) if key == "apiVersion" && t.matches('/').count() > 1 => out
                .push(Cause::invalid(
                    &field,
                    &json!(t),
                    &format!("unexpected GroupVersion string: {t}"),
                )),
            Some(Value::String(_)) => {}
            Some(other) => out.push(Cause::invalid(&field, other, "must be a string")),
        }
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

/// Applies schema defaults without pruning (upstream defaults objects read from storage too,
/// so a default added to a CRD shows on objects stored before it).
pub fn apply_schema_defaults(schema: &Value, obj: &mut Value) {
    match obj {
        Value::Object(o) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                apply_defaults(props, o);
                for (k, child) in o.iter_mut() {
                    if let Some(cs) = props.get(k) {
                        apply_schema_defaults(cs, child);
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in o.values_mut() {
                    apply_schema_defaults(ap, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for it in items.iter_mut() {
                    apply_schema_defaults(is, it);
                }
            }
        }
        _ => {}
    }
}

/// Whether a schema declares a default anywhere.
pub fn has_defaults(schema: &Value) -> bool {
    let Some(o) = schema.as_object() else {
        return false;
    };
    o.contains_key("default")
        || o.get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| p.values().any(has_defaults))
        || o.get("additionalProperties").is_some_and(has_defaults)
        || o.get("items").is_some_and(has_defaults)
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

/// The strategy of custom resources (their schema is checked by the storage layer from the
/// resource's `CrdServing`).
#[derive(Debug)]
pub struct CustomResource;

impl Strategy for CustomResource {
    fn returns_deleted_object(&self) -> bool {
        true
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
}
