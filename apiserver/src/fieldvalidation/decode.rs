//! One-pass schema-aware decoding of JSON/YAML bodies into `serde_json::Value`.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::error::{FieldValidationError, StrictError, go_quote};
use crate::schema::{TypeKind, TypeRef};

/// Upstream stops collecting strict errors after this many.
const MAX_STRICT_ERRORS: usize = 100;

/// The body's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` (and the JSON patch types).
    Json,
    /// `application/yaml` and `application/apply-patch+yaml`.
    Yaml,
}

/// A decoded body: unknown fields dropped, duplicates resolved last-wins.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The object as upstream would decode it.
    pub value: Value,
    /// Strict errors in upstream's order.
    pub strict_errors: Vec<StrictError>,
}

struct Ctx {
    path: String,
    errors: Vec<StrictError>,
    seen: HashSet<StrictError>,
    check_types: bool,
    type_error: Option<FieldValidationError>,
    yaml: bool,
    key_counts: HashMap<String, usize>,
    yaml_dups: Vec<(String, usize)>,
}

impl Ctx {
    fn strict(&mut self, err: StrictError) {
        if self.errors.len() < MAX_STRICT_ERRORS && self.seen.insert(err.clone()) {
            self.errors.push(err);
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn type_mismatch(&mut self, got: &'static str, expected: &'static str) {
        if self.check_types && self.type_error.is_none() {
            self.type_error = Some(FieldValidationError::Type {
                path: self.path.clone(),
                got,
                expected,
            });
        }
    }
}

/// Decodes a request body against `schema`. Syntax errors and (with `check_types`) type
/// mismatches are errors; unknown and duplicate fields are reported in [`Decoded`].
pub fn decode_body(
    bytes: &[u8],
    format: BodyFormat,
    schema: &TypeRef<'_>,
    check_types: bool,
) -> Result<Decoded, FieldValidationError> {
    let mut ctx = Ctx {
        path: String::new(),
        errors: Vec::new(),
        seen: HashSet::new(),
        check_types,
        type_error: None,
        yaml: format == BodyFormat::Yaml,
        key_counts: HashMap::new(),
        yaml_dups: Vec::new(),
    };
    let seed = Seed {
        ty: schema.clone(),
        skipped: false,
        ctx: &mut ctx,
    };
    let value = match format {
        BodyFormat::Json => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let value = seed
                .deserialize(&mut de)
                .map_err(|e| FieldValidationError::Syntax(e.to_string()))?;
            de.end()
                .map_err(|e| FieldValidationError::Syntax(e.to_string()))?;
            value
        }
        BodyFormat::Yaml => {
            let de = serde_yaml::Deserializer::from_slice(bytes);
            seed.deserialize(de)
                .map_err(|e| FieldValidationError::Syntax(e.to_string()))?
        }
    };
    if let Some(err) = ctx.type_error.take() {
        return Err(err);
    }
    let mut strict_errors = Vec::new();
    if !ctx.yaml_dups.is_empty() {
        let text = String::from_utf8_lossy(bytes);
        let lines = ctx
            .yaml_dups
            .iter()
            .map(|(key, nth)| {
                let line = yaml_key_line(&text, key, *nth);
                format!("line {line}: key {} already set in map", go_quote(key))
            })
            .collect();
        strict_errors.push(StrictError::YamlDuplicates(lines));
    }
    strict_errors.extend(ctx.errors);
    Ok(Decoded {
        value,
        strict_errors,
    })
}

/// Drops fields the schema does not know from an already-decoded object (e.g. a patch
/// result) and returns their paths, as upstream's decoding of the patched object reports them.
pub fn prune_unknown_fields(value: &mut Value, schema: &TypeRef<'_>) -> Vec<StrictError> {
    let mut out = Vec::new();
    prune(value, schema, &mut String::new(), &mut out);
    out
}

fn prune(value: &mut Value, ty: &TypeRef<'_>, path: &mut String, out: &mut Vec<StrictError>) {
    match value {
        Value::Object(map) => {
            let mut unknown = Vec::new();
            for (key, child) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                match ty.field(key) {
                    Some(child_ty) => prune(child, &child_ty, path, out),
                    None => {
                        out.push(StrictError::UnknownField(path.clone()));
                        unknown.push(key.clone());
                    }
                }
                path.truncate(len);
            }
            for key in unknown {
                map.shift_remove(&key);
            }
        }
        Value::Array(items) => {
            let item_ty = ty.items().unwrap_or_else(TypeRef::untyped);
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                prune(item, &item_ty, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The 1-based line of the `nth` occurrence of `key` as a block-mapping key.
fn yaml_key_line(text: &str, key: &str, nth: usize) -> usize {
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        let mut rest = line.trim_start();
        while let Some(r) = rest.strip_prefix("- ") {
            rest = r.trim_start();
        }
        let matches = [key.to_owned(), format!("\"{key}\""), format!("'{key}'")]
            .iter()
            .any(|k| {
                rest.strip_prefix(k.as_str())
                    .and_then(|r| r.trim_start().strip_prefix(':'))
                    .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
            });
        if matches {
            count += 1;
            if count == nth {
                return i + 1;
            }
        }
    }
    0
}

struct Seed<'c, 'a> {
    ty: TypeRef<'a>,
    /// Inside a value upstream skips (an unknown field): only YAML duplicate tracking runs.
    skipped: bool,
    ctx: &'c mut Ctx,
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

fn expected_name(kind: TypeKind) -> &'static str {
    match kind {
        TypeKind::String => "string",
        TypeKind::Integer => "integer",
        TypeKind::Number => "number",
        TypeKind::Boolean => "boolean",
        TypeKind::IntOrString => "int-or-string",
        TypeKind::Object => "object",
        TypeKind::Array => "array",
        TypeKind::Untyped => "any",
    }
}

impl Seed<'_, '_> {
    fn check(&mut self, got: &'static str, ok: impl Fn(TypeKind) -> bool) {
        let kind = self.ty.kind();
        if !self.skipped && kind != TypeKind::Untyped && !ok(kind) {
            self.ctx.type_mismatch(got, expected_name(kind));
        }
    }
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(mut self, v: bool) -> Result<Value, E> {
        self.check("bool", |k| k == TypeKind::Boolean);
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(mut self, v: i64) -> Result<Value, E> {
        self.check("number", |k| {
            matches!(
                k,
                TypeKind::Integer | TypeKind::Number | TypeKind::IntOrString
            )
        });
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(mut self, v: u64) -> Result<Value, E> {
        self.check("number", |k| {
            matches!(
                k,
                TypeKind::Integer | TypeKind::Number | TypeKind::IntOrString
            )
        });
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(mut self, v: f64) -> Result<Value, E> {
        self.check("number", |k| {
            matches!(k, TypeKind::Number | TypeKind::IntOrString)
        });
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(mut self, v: &str) -> Result<Value, E> {
        self.check("string", |k| {
            matches!(k, TypeKind::String | TypeKind::IntOrString)
        });
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(mut self, v: String) -> Result<Value, E> {
        self.check("string", |k| {
            matches!(k, TypeKind::String | TypeKind::IntOrString)
        });
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        self.check("array", |k| k == TypeKind::Array);
        let item_ty = self.ty.items().unwrap_or_else(TypeRef::untyped);
        let mut items = Vec::new();
        loop {
            let len = self.ctx.path.len();
            if !self.skipped {
                self.ctx.path.push_str(&format!("[{}]", items.len()));
            }
            let next = seq.next_element_seed(Seed {
                ty: item_ty.clone(),
                skipped: self.skipped,
                ctx: self.ctx,
            });
            self.ctx.path.truncate(len);
            match next? {
                Some(v) => items.push(v),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<Value, A::Error> {
        self.check("object", |k| k == TypeKind::Object);
        let mut map = Map::new();
        let mut keys = HashSet::new();
        while let Some(key) = access.next_key::<String>()? {
            let count = self.ctx.key_counts.entry(key.clone()).or_insert(0);
            *count += 1;
            let nth = *count;
            let duplicate = !keys.insert(key.clone());
            if duplicate && self.ctx.yaml {
                self.ctx.yaml_dups.push((key.clone(), nth));
            }
            let field_ty = self.ty.field(&key);
            if self.skipped || field_ty.is_none() {
                if !self.skipped {
                    let path = self.ctx.child_path(&key);
                    self.ctx.strict(StrictError::UnknownField(path));
                }
                if self.ctx.yaml {
                    access.next_value_seed(Seed {
                        ty: TypeRef::untyped(),
                        skipped: true,
                        ctx: self.ctx,
                    })?;
                } else {
                    access.next_value::<IgnoredAny>()?;
                }
                continue;
            }
            if duplicate && !self.ctx.yaml {
                let path = self.ctx.child_path(&key);
                self.ctx.strict(StrictError::DuplicateField(path));
            }
            let len = self.ctx.path.len();
            self.ctx.path = self.ctx.child_path(&key);
            let value = access.next_value_seed(Seed {
                ty: field_ty.unwrap_or_else(TypeRef::untyped),
                skipped: false,
                ctx: self.ctx,
            });
            self.ctx.path.truncate(len);
            map.insert(key, value?);
        }
        Ok(Value::Object(map))
    }
}
