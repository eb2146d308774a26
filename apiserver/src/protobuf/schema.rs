//! The embedded v1.33 protobuf schema (`apiserver/protobuf-data/`), parsed once.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::error::ProtoError;

const DATA: &str = include_str!("../../protobuf-data/k8s-v1.33-protobuf.json");

/// Scalar wire types the schema uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    String,
    Bool,
    Int32,
    Int64,
    Float64,
    Bytes,
}

/// Types whose Go JSON form is not the plain struct form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Custom {
    Quantity,
    Time,
    MicroTime,
    Duration,
    FieldsV1,
    IntOrString,
    RawExtension,
    Json,
    PropsOrBool,
    PropsOrArray,
    PropsOrStringArray,
    /// A named slice that generated.proto wraps as `message X { repeated T items = 1; }`.
    Items,
}

/// What a field holds: a scalar or a message (by index into [`Schema::messages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elem {
    Scalar(Scalar),
    Message(usize),
}

/// How the field sits in its Go struct and on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    One,
    List,
    Map,
}

/// One field of a message, in Go declaration order.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub number: u32,
    pub json: String,
    pub card: Card,
    pub elem: Elem,
    /// A Go pointer: absent stays absent; a present zero value still prints.
    pub pointer: bool,
    pub omitempty: bool,
    /// An embedded struct whose fields Go's JSON encoding promotes into the parent.
    pub inline: bool,
    /// The embedded `TypeMeta` (no protobuf field; `kind`/`apiVersion` come from the envelope).
    pub type_meta: bool,
}

/// A message: its Go type name (for errors), custom JSON form, and fields.
#[derive(Debug)]
pub(crate) struct Message {
    pub name: String,
    pub custom: Option<Custom>,
    pub fields: Vec<Field>,
    /// Indices into `fields`, sorted by field number (the order Go marshals in).
    pub by_number: Vec<usize>,
}

impl Message {
    /// The field with this protobuf number.
    pub fn field(&self, number: u32) -> Option<&Field> {
        self.by_number
            .binary_search_by_key(&number, |&i| self.fields[i].number)
            .ok()
            .map(|i| &self.fields[self.by_number[i]])
    }

    /// The short Go type name, as upstream's generated code names it in errors.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }
}

/// All messages plus the `apiVersion/kind` → message index.
#[derive(Debug)]
pub(crate) struct Schema {
    pub messages: Vec<Message>,
    pub kinds: HashMap<String, usize>,
}

#[derive(Deserialize)]
struct RawSchema {
    kinds: HashMap<String, String>,
    messages: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    custom: Option<String>,
    #[serde(default)]
    fields: Vec<(u32, String, String, String)>,
}

static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();

/// The parsed schema; an error only if the embedded data is corrupt (a build defect).
pub(crate) fn schema() -> Result<&'static Schema, ProtoError> {
    SCHEMA
        .get_or_init(|| parse(DATA))
        .as_ref()
        .map_err(|e| ProtoError::Schema(e.clone()))
}

fn parse(data: &str) -> Result<Schema, String> {
    let raw: RawSchema = serde_json::from_str(data).map_err(|e| e.to_string())?;
    let names: Vec<&String> = raw.messages.keys().collect();
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut messages = Vec::with_capacity(names.len());
    for (name, value) in &raw.messages {
        let m: RawMessage =
            serde_json::from_value(value.clone()).map_err(|e| format!("{name}: {e}"))?;
        messages.push(message(name, m, &index)?);
    }
    let mut kinds = HashMap::with_capacity(raw.kinds.len());
    for (gvk, msg) in raw.kinds {
        let i = *index
            .get(msg.as_str())
            .ok_or_else(|| format!("kind {gvk} names unknown message {msg}"))?;
        kinds.insert(gvk, i);
    }
    Ok(Schema { messages, kinds })
}

fn message(name: &str, m: RawMessage, index: &HashMap<&str, usize>) -> Result<Message, String> {
    let custom = m.custom.as_deref().map(custom).transpose()?;
    let mut fields = Vec::with_capacity(m.fields.len());
    for (number, json, flags, ty) in m.fields {
        let type_meta = flags.contains('t');
        let elem = if type_meta {
            Elem::Scalar(Scalar::String)
        } else {
            elem(&ty, index).ok_or_else(|| format!("{name}.{json}: unknown type {ty}"))?
        };
        let card = if flags.contains('l') {
            Card::List
        } else if flags.contains('m') {
            Card::Map
        } else {
            Card::One
        };
        fields.push(Field {
            number,
            json,
            card,
            elem,
            pointer: flags.contains('p'),
            omitempty: flags.contains('o'),
            inline: flags.contains('i'),
            type_meta,
        });
    }
    let mut by_number: Vec<usize> = (0..fields.len())
        .filter(|&i| !fields[i].type_meta)
        .collect();
    by_number.sort_by_key(|&i| fields[i].number);
    Ok(Message {
        name: name.to_string(),
        custom,
        fields,
        by_number,
    })
}

fn elem(ty: &str, index: &HashMap<&str, usize>) -> Option<Elem> {
    let scalar = match ty {
        "string" => Scalar::String,
        "bool" => Scalar::Bool,
        "int32" => Scalar::Int32,
        "int64" => Scalar::Int64,
        "float64" => Scalar::Float64,
        "bytes" => Scalar::Bytes,
        _ => return index.get(ty).map(|&i| Elem::Message(i)),
    };
    Some(Elem::Scalar(scalar))
}

fn custom(s: &str) -> Result<Custom, String> {
    Ok(match s {
        "quantity" => Custom::Quantity,
        "time" => Custom::Time,
        "microtime" => Custom::MicroTime,
        "duration" => Custom::Duration,
        "fieldsv1" => Custom::FieldsV1,
        "intorstring" => Custom::IntOrString,
        "rawextension" => Custom::RawExtension,
        "json" => Custom::Json,
        "propsorbool" => Custom::PropsOrBool,
        "propsorarray" => Custom::PropsOrArray,
        "propsorstringarray" => Custom::PropsOrStringArray,
        "items" => Custom::Items,
        other => return Err(format!("unknown custom type {other}")),
    })
}
