//! JSON object → protobuf message, as Go would produce it: `json.Unmarshal` into the struct,
//! then the gogo-generated `Marshal` (fields in number order; value fields always written,
//! zero or not; nil pointers, slices, maps and `[]byte` skipped; map keys sorted).

use base64::Engine as _;
use serde_json::{Map, Value};

use super::custom::{self, type_error};
use super::error::ProtoError;
use super::schema::{Card, Custom, Elem, Field, Message, Scalar, Schema};
use super::wire::Writer;

const MAX_DEPTH: usize = 300;

/// Encoding state: the schema and the current nesting depth.
pub(crate) struct Encoder<'s> {
    pub schema: &'s Schema,
    depth: usize,
}

impl<'s> Encoder<'s> {
    pub fn new(schema: &'s Schema) -> Self {
        Encoder { schema, depth: 0 }
    }

    /// The bytes of message `index` holding `v` (null is the zero value).
    pub fn message(&mut self, index: usize, v: &Value) -> Result<Vec<u8>, ProtoError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ProtoError::TooDeep(MAX_DEPTH));
        }
        let schema = self.schema;
        let msg = &schema.messages[index];
        let mut w = Writer::default();
        let result = match msg.custom {
            Some(c) => self.custom(msg, c, v, &mut w),
            None => match v {
                Value::Null => self.object(msg, &Map::new(), &mut w),
                Value::Object(obj) => self.object(msg, obj, &mut w),
                other => Err(type_error(other, &go_type(msg))),
            },
        };
        self.depth -= 1;
        result.map(|()| w.buf)
    }

    fn object(
        &mut self,
        msg: &Message,
        obj: &Map<String, Value>,
        w: &mut Writer,
    ) -> Result<(), ProtoError> {
        for &i in &msg.by_number {
            let field = &msg.fields[i];
            if field.inline {
                if let Elem::Message(m) = field.elem {
                    // The embedded struct reads its promoted fields from the same object.
                    let mut inner = Writer::default();
                    self.object(&self.schema.messages[m], obj, &mut inner)?;
                    w.bytes_field(field.number, &inner.buf);
                }
                continue;
            }
            let value = obj.get(&field.json).filter(|v| !v.is_null());
            self.field(msg, field, value, w)?;
        }
        Ok(())
    }

    fn field(
        &mut self,
        msg: &Message,
        field: &Field,
        value: Option<&Value>,
        w: &mut Writer,
    ) -> Result<(), ProtoError> {
        match field.card {
            Card::One => self.single(msg, field, value, w),
            Card::List => {
                let Some(v) = value else { return Ok(()) };
                let items = v.as_array().ok_or_else(|| {
                    type_error(v, &format!("[]{}", elem_go_type(self.schema, field)))
                })?;
                for item in items {
                    self.element(msg, field, item, w)?;
                }
                Ok(())
            }
            Card::Map => {
                let Some(v) = value else { return Ok(()) };
                let entries = v.as_object().ok_or_else(|| type_error(v, "map[string]"))?;
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                for k in keys {
                    let mut entry = Writer::default();
                    entry.bytes_field(1, k.as_bytes());
                    let val = &entries[k];
                    match field.elem {
                        Elem::Message(m) => entry.bytes_field(2, &self.message(m, val)?),
                        Elem::Scalar(Scalar::Bytes) => {
                            if !val.is_null() {
                                entry.bytes_field(2, &bytes(val)?);
                            }
                        }
                        Elem::Scalar(s) => scalar(&mut entry, 2, s, val, msg)?,
                    }
                    w.bytes_field(field.number, &entry.buf);
                }
                Ok(())
            }
        }
    }

    fn single(
        &mut self,
        msg: &Message,
        field: &Field,
        value: Option<&Value>,
        w: &mut Writer,
    ) -> Result<(), ProtoError> {
        match field.elem {
            Elem::Scalar(Scalar::Bytes) => {
                if let Some(v) = value {
                    w.bytes_field(field.number, &bytes(v)?);
                }
                Ok(())
            }
            Elem::Scalar(s) => match value {
                Some(v) => scalar(w, field.number, s, v, msg),
                None if field.pointer => Ok(()),
                None => scalar(w, field.number, s, &Value::Null, msg),
            },
            Elem::Message(m) => {
                let nilable =
                    field.pointer || self.schema.messages[m].custom == Some(Custom::Items);
                if value.is_none() && nilable {
                    return Ok(());
                }
                let bytes = self.message(m, value.unwrap_or(&Value::Null))?;
                w.bytes_field(field.number, &bytes);
                Ok(())
            }
        }
    }

    fn element(
        &mut self,
        msg: &Message,
        field: &Field,
        item: &Value,
        w: &mut Writer,
    ) -> Result<(), ProtoError> {
        match field.elem {
            Elem::Message(m) => {
                let bytes = self.message(m, item)?;
                w.bytes_field(field.number, &bytes);
            }
            Elem::Scalar(Scalar::Bytes) => w.bytes_field(field.number, &bytes(item)?),
            Elem::Scalar(s) => scalar(w, field.number, s, item, msg)?,
        }
        Ok(())
    }

    fn custom(
        &mut self,
        msg: &Message,
        c: Custom,
        v: &Value,
        w: &mut Writer,
    ) -> Result<(), ProtoError> {
        let field = |n: usize| {
            msg.fields
                .get(n)
                .ok_or_else(|| ProtoError::Schema(format!("{} lacks field {n}", msg.name)))
        };
        match (c, v) {
            (Custom::PropsOrBool, Value::Object(_)) => {
                scalar(w, field(0)?.number, Scalar::Bool, &Value::Bool(true), msg)?;
                self.single(msg, field(1)?, Some(v), w)
            }
            (Custom::PropsOrBool, Value::Bool(_) | Value::Null) => {
                scalar(w, field(0)?.number, Scalar::Bool, v, msg)
            }
            (Custom::PropsOrBool, other) => Err(ProtoError::Json(format!(
                "boolean or JSON schema expected, got {}",
                kind_of(other)
            ))),
            (Custom::PropsOrArray | Custom::PropsOrStringArray, Value::Object(_)) => {
                self.single(msg, field(0)?, Some(v), w)
            }
            (Custom::PropsOrArray | Custom::PropsOrStringArray, Value::Array(_)) => {
                self.field(msg, field(1)?, Some(v), w)
            }
            (Custom::PropsOrArray | Custom::PropsOrStringArray, _) => Ok(()),
            (Custom::Items, Value::Null) => Ok(()),
            (Custom::Items, _) => self.field(msg, field(0)?, Some(v), w),
            (c, v) => custom::encode(c, v, w),
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn go_type(msg: &Message) -> String {
    let mut parts = msg.name.rsplitn(2, '.');
    let name = parts.next().unwrap_or_default();
    let pkg = parts
        .next()
        .and_then(|p| p.rsplit('/').next())
        .unwrap_or_default();
    format!("{pkg}.{name}")
}

fn elem_go_type(schema: &Schema, field: &Field) -> String {
    match field.elem {
        Elem::Message(m) => go_type(&schema.messages[m]),
        Elem::Scalar(s) => scalar_go_type(s).to_string(),
    }
}

fn scalar_go_type(s: Scalar) -> &'static str {
    match s {
        Scalar::String => "string",
        Scalar::Bool => "bool",
        Scalar::Int32 => "int32",
        Scalar::Int64 => "int64",
        Scalar::Float64 => "float64",
        Scalar::Bytes => "[]uint8",
    }
}

fn bytes(v: &Value) -> Result<Vec<u8>, ProtoError> {
    let s = v.as_str().ok_or_else(|| type_error(v, "[]uint8"))?;
    base64::engine::general_purpose::STANDARD
        .decode(s.replace(['\r', '\n'], ""))
        .map_err(|e| ProtoError::Json(format!("illegal base64 data: {e}")))
}

/// Writes one scalar (null writes the zero value, as Go leaves a value field zero).
fn scalar(
    w: &mut Writer,
    number: u32,
    s: Scalar,
    v: &Value,
    msg: &Message,
) -> Result<(), ProtoError> {
    let mismatch = || type_error(v, scalar_go_type(s));
    match s {
        Scalar::String => {
            let text = match v {
                Value::Null => "",
                Value::String(t) => t.as_str(),
                _ => return Err(mismatch()),
            };
            w.bytes_field(number, text.as_bytes());
        }
        Scalar::Bytes => w.bytes_field(number, &if v.is_null() { Vec::new() } else { bytes(v)? }),
        Scalar::Bool => match v {
            Value::Null => w.varint_field(number, 0),
            Value::Bool(b) => w.varint_field(number, u64::from(*b)),
            _ => return Err(mismatch()),
        },
        Scalar::Int32 | Scalar::Int64 => {
            let i = match v {
                Value::Null => 0,
                Value::Number(n) => integer(n, s).ok_or_else(|| {
                    ProtoError::Json(format!(
                        "json: cannot unmarshal number {n} into Go struct field {} of type {}",
                        msg.short_name(),
                        scalar_go_type(s)
                    ))
                })?,
                _ => return Err(mismatch()),
            };
            w.varint_field(number, i as u64);
        }
        Scalar::Float64 => {
            let f = match v {
                Value::Null => 0.0,
                Value::Number(n) => n.as_f64().ok_or_else(mismatch)?,
                _ => return Err(mismatch()),
            };
            w.fixed64_field(number, f.to_bits());
        }
    }
    Ok(())
}

/// An integral JSON number within the Go type's range.
fn integer(n: &serde_json::Number, s: Scalar) -> Option<i64> {
    let i = n.as_i64()?;
    match s {
        Scalar::Int32 => i32::try_from(i).ok().map(i64::from),
        _ => Some(i),
    }
}
