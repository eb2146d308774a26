//! Protobuf message → the JSON that Go's `encoding/json` prints for the decoded struct.
//!
//! The rules mirror what happens upstream: gogo-generated `Unmarshal` fills the Go struct (absent
//! value fields keep their zero value, absent pointers/slices/maps stay nil, repeated occurrences
//! of a message merge, of a scalar the last wins) and `json.Marshal` prints it (`omitempty` drops
//! zero scalars and nil or empty slices, maps and pointers, never structs; map keys sort).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::custom;
use super::error::ProtoError;
use super::schema::{Card, Custom, Elem, Field, Message, Scalar, Schema};
use super::wire::{self, Wire};

/// Deepest message nesting accepted (deep CRD schemas stay far below it).
const MAX_DEPTH: usize = 300;

/// Decoding state: the schema and the current nesting depth.
pub(crate) struct Decoder<'s> {
    pub schema: &'s Schema,
    depth: usize,
}

impl<'s> Decoder<'s> {
    pub fn new(schema: &'s Schema) -> Self {
        Decoder { schema, depth: 0 }
    }

    /// The JSON value of message `index` encoded in `data`. `type_meta` fills the top-level
    /// object's `kind`/`apiVersion` (Go sets them from the envelope after decoding).
    pub fn message(
        &mut self,
        index: usize,
        data: &[u8],
        type_meta: Option<(&str, &str)>,
    ) -> Result<Value, ProtoError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ProtoError::TooDeep(MAX_DEPTH));
        }
        let schema = self.schema;
        let msg = &schema.messages[index];
        let result = match msg.custom {
            Some(c) => self.custom(msg, c, data),
            None => self.object(msg, data, type_meta).map(Value::Object),
        };
        self.depth -= 1;
        result
    }

    fn object(
        &mut self,
        msg: &Message,
        data: &[u8],
        type_meta: Option<(&str, &str)>,
    ) -> Result<Map<String, Value>, ProtoError> {
        let values = self.field_values(msg, data)?;
        let mut out = Map::new();
        for (field, value) in msg.fields.iter().zip(values) {
            if field.type_meta {
                let (api_version, kind) = type_meta.unwrap_or(("", ""));
                put_nonempty(&mut out, "kind", kind);
                put_nonempty(&mut out, "apiVersion", api_version);
                continue;
            }
            let Some(value) = value else {
                if !field.omitempty && !field.inline {
                    out.insert(field.json.clone(), Value::Null);
                }
                continue;
            };
            if field.inline {
                // Go promotes an embedded struct's fields; the embedding struct's own win.
                if let Value::Object(inner) = value {
                    for (k, v) in inner {
                        out.entry(k).or_insert(v);
                    }
                }
                continue;
            }
            let value_type = matches!(field.elem, Elem::Scalar(_)) || field.card != Card::One;
            if field.omitempty && !field.pointer && value_type && is_empty(&value) {
                continue;
            }
            out.insert(field.json.clone(), value);
        }
        Ok(out)
    }

    /// One `Option<Value>` per field of `msg`: `None` is Go's nil (absent pointer, slice, map
    /// or `[]byte`); value fields that are absent get their zero value.
    pub fn field_values(
        &mut self,
        msg: &Message,
        data: &[u8],
    ) -> Result<Vec<Option<Value>>, ProtoError> {
        let mut occurrences: BTreeMap<u32, Vec<Wire<'_>>> = BTreeMap::new();
        for (number, value) in wire::fields(data, msg.short_name())? {
            if msg.field(number).is_some() {
                occurrences.entry(number).or_default().push(value);
            }
        }
        let mut out = Vec::with_capacity(msg.fields.len());
        for field in &msg.fields {
            if field.type_meta {
                out.push(None);
                continue;
            }
            let occ = occurrences.remove(&field.number).unwrap_or_default();
            out.push(self.field(msg, field, &occ)?);
        }
        Ok(out)
    }

    fn field(
        &mut self,
        msg: &Message,
        field: &Field,
        occ: &[Wire<'_>],
    ) -> Result<Option<Value>, ProtoError> {
        match field.card {
            Card::One => self.single(msg, field, occ),
            Card::List => {
                let mut items = Vec::new();
                for w in occ {
                    self.list_items(msg, field, *w, &mut items)?;
                }
                Ok((!items.is_empty()).then_some(Value::Array(items)))
            }
            Card::Map => {
                let mut entries = BTreeMap::new();
                for w in occ {
                    let bytes = expect_bytes(field, *w)?;
                    let (k, v) = self.map_entry(msg, field, bytes)?;
                    entries.insert(k, v);
                }
                Ok((!entries.is_empty()).then(|| Value::Object(entries.into_iter().collect())))
            }
        }
    }

    fn single(
        &mut self,
        msg: &Message,
        field: &Field,
        occ: &[Wire<'_>],
    ) -> Result<Option<Value>, ProtoError> {
        match field.elem {
            Elem::Scalar(Scalar::Bytes) => match occ.last() {
                Some(w) => Ok(Some(bytes_value(expect_bytes(field, *w)?))),
                None => Ok(None),
            },
            Elem::Scalar(s) => match occ.last() {
                Some(w) => scalar(msg, field, s, *w).map(Some),
                None if field.pointer => Ok(None),
                None => Ok(Some(zero(s))),
            },
            Elem::Message(m) => {
                if occ.is_empty() && field.pointer {
                    return Ok(None);
                }
                let data = self.merged(field, m, occ)?;
                let value = self.message(m, &data, None)?;
                // A named slice (wrapper message) is nil when it holds no items.
                if self.schema.messages[m].custom == Some(Custom::Items) && value.is_null() {
                    return Ok(None);
                }
                Ok(Some(value))
            }
        }
    }

    /// Concatenates repeated occurrences of a message field: protobuf's merge. Types with a
    /// hand-written `Unmarshal` (Quantity, Time, MicroTime) take the last occurrence instead.
    fn merged(&self, field: &Field, m: usize, occ: &[Wire<'_>]) -> Result<Vec<u8>, ProtoError> {
        let replace = matches!(
            self.schema.messages[m].custom,
            Some(Custom::Quantity | Custom::Time | Custom::MicroTime)
        );
        let mut data = Vec::new();
        for w in occ {
            let bytes = expect_bytes(field, *w)?;
            if replace {
                data.clear();
            }
            data.extend_from_slice(bytes);
        }
        Ok(data)
    }

    fn list_items(
        &mut self,
        msg: &Message,
        field: &Field,
        w: Wire<'_>,
        items: &mut Vec<Value>,
    ) -> Result<(), ProtoError> {
        match field.elem {
            Elem::Message(m) => {
                let bytes = expect_bytes(field, w)?;
                items.push(self.message(m, bytes, None)?);
            }
            Elem::Scalar(Scalar::Bytes) => items.push(bytes_value(expect_bytes(field, w)?)),
            Elem::Scalar(Scalar::String) => items.push(scalar(msg, field, Scalar::String, w)?),
            Elem::Scalar(s) => match w {
                // Packed encoding, which generated code accepts for numeric repeated fields.
                Wire::Bytes(packed) => {
                    let mut pos = 0;
                    while pos < packed.len() {
                        let v = if s == Scalar::Float64 {
                            let b = packed.get(pos..pos + 8).ok_or(ProtoError::UnexpectedEof)?;
                            pos += 8;
                            Wire::Fixed64(u64::from_le_bytes(
                                b.try_into().map_err(|_| ProtoError::UnexpectedEof)?,
                            ))
                        } else {
                            Wire::Varint(wire::read_varint(packed, &mut pos)?)
                        };
                        items.push(scalar(msg, field, s, v)?);
                    }
                }
                other => items.push(scalar(msg, field, s, other)?),
            },
        }
        Ok(())
    }

    fn map_entry(
        &mut self,
        msg: &Message,
        field: &Field,
        entry: &[u8],
    ) -> Result<(String, Value), ProtoError> {
        let mut key = String::new();
        let mut value: Option<Wire<'_>> = None;
        let mut message_parts: Vec<Wire<'_>> = Vec::new();
        for (number, w) in wire::fields(entry, msg.short_name())? {
            match number {
                1 => key = String::from_utf8_lossy(expect_bytes(field, w)?).into_owned(),
                2 => {
                    value = Some(w);
                    message_parts.push(w);
                }
                _ => {}
            }
        }
        let v = match field.elem {
            Elem::Message(m) => {
                let data = self.merged(field, m, &message_parts)?;
                self.message(m, &data, None)?
            }
            Elem::Scalar(Scalar::Bytes) => match value {
                Some(w) => bytes_value(expect_bytes(field, w)?),
                // gogo starts a map's bytes value as `[]byte{}`: it prints as "".
                None => Value::String(String::new()),
            },
            Elem::Scalar(s) => match value {
                Some(w) => scalar(msg, field, s, w)?,
                None => zero(s),
            },
        };
        Ok((key, v))
    }

    fn custom(&mut self, msg: &Message, c: Custom, data: &[u8]) -> Result<Value, ProtoError> {
        match c {
            Custom::PropsOrBool
            | Custom::PropsOrArray
            | Custom::PropsOrStringArray
            | Custom::Items => {
                let values = self.field_values(msg, data)?;
                Ok(custom::assemble(c, values))
            }
            _ => custom::decode(c, msg.short_name(), data),
        }
    }
}

fn put_nonempty(out: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        out.insert(key.to_string(), Value::String(value.to_string()));
    }
}

/// Go's `omitempty` emptiness for value (non-pointer) fields.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        // Structs are never empty to encoding/json; maps reach here only when non-nil.
        Value::Object(_) => false,
    }
}

fn zero(s: Scalar) -> Value {
    match s {
        Scalar::String | Scalar::Bytes => Value::String(String::new()),
        Scalar::Bool => Value::Bool(false),
        Scalar::Int32 | Scalar::Int64 => Value::from(0),
        Scalar::Float64 => Value::from(0),
    }
}

fn bytes_value(b: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
}

fn wrong_wire(field: &Field, w: Wire<'_>) -> ProtoError {
    ProtoError::Malformed(format!(
        "proto: wrong wireType = {} for field {}",
        w.wire_type(),
        go_field_name(&field.json)
    ))
}

/// The Go field name generated code prints in errors, as far as the JSON name gives it.
fn go_field_name(json: &str) -> String {
    let mut chars = json.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn expect_bytes<'a>(field: &Field, w: Wire<'a>) -> Result<&'a [u8], ProtoError> {
    match w {
        Wire::Bytes(b) => Ok(b),
        other => Err(wrong_wire(field, other)),
    }
}

fn scalar(msg: &Message, field: &Field, s: Scalar, w: Wire<'_>) -> Result<Value, ProtoError> {
    Ok(match (s, w) {
        (Scalar::String, Wire::Bytes(b)) => Value::String(String::from_utf8_lossy(b).into_owned()),
        (Scalar::Bytes, Wire::Bytes(b)) => bytes_value(b),
        (Scalar::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        (Scalar::Int32, Wire::Varint(v)) => Value::from(v as i32),
        (Scalar::Int64, Wire::Varint(v)) => Value::from(v as i64),
        (Scalar::Float64, Wire::Fixed64(v)) => {
            custom::float_value(f64::from_bits(v), msg.short_name())?
        }
        (_, other) => return Err(wrong_wire(field, other)),
    })
}
