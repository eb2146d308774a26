//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`) bodies ↔ JSON objects.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` (1 `typeMeta` {1 apiVersion,
//! 2 kind}, 2 `raw` = the object's own message, 3 contentEncoding, 4 contentType). [`decode`]
//! yields the JSON that kube-apiserver would hold after decoding the body into the Go struct,
//! i.e. what `encoding/json` prints for it (value fields that Go's marshaller always writes come
//! out zero or dropped per `omitempty`, exactly as for a JSON client sending that struct).
//! [`encode`] is the reverse for clients that accept only protobuf.
//!
//! The walk is driven by the v1.33 schema in `apiserver/protobuf-data/` (Go struct facts from
//! kubectl 1.33 and apiextensions-apiserver 0.33, wire shapes from k8s-pb). Known deviations:
//! quantities keep their string as sent (upstream re-prints them canonically, which only
//! differs for non-canonical strings, which Go clients never send); `RawExtension`/`JSON`
//! payloads are re-serialised compactly.

mod custom;
mod decode;
mod encode;
mod error;
#[cfg(test)]
mod roundtrip_more_tests;
#[cfg(test)]
mod roundtrip_tests;
mod schema;
#[cfg(test)]
mod tests;
mod wire;

use serde_json::Value;

pub use error::ProtoError;
#[cfg(test)]
pub(crate) use wire::fields;
pub(crate) use wire::{Wire, Writer};

/// The 4-byte prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Decodes a protobuf request body into the JSON object the client meant, `kind` and
/// `apiVersion` taken from the envelope.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    decode_with_defaults(body, None)
}

/// Like [`decode`], but an envelope lacking kind or version takes them from `defaults`
/// (`(apiVersion, kind)` of the endpoint), as upstream's serializer does with the request's
/// expected kind.
pub fn decode_with_defaults(
    body: &[u8],
    defaults: Option<(&str, &str)>,
) -> Result<Value, ProtoError> {
    let envelope = unwrap_envelope(body)?;
    let (api_version, kind) = apply_defaults(&envelope, defaults)?;
    let schema = schema::schema()?;
    let index = *schema
        .kinds
        .get(&format!("{api_version}/{kind}"))
        .ok_or_else(|| not_registered(&api_version, &kind))?;
    decode::Decoder::new(schema).message(
        index,
        envelope.raw.unwrap_or_default(),
        Some((&api_version, &kind)),
    )
}

/// Encodes a JSON object (with `apiVersion` and `kind`) as a protobuf body, envelope included.
pub fn encode(obj: &Value) -> Result<Vec<u8>, ProtoError> {
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let meta = format!("runtime.TypeMeta{{APIVersion:{api_version:?}, Kind:{kind:?}}}");
    if kind.is_empty() {
        return Err(ProtoError::MissingKind(meta));
    }
    if api_version.is_empty() {
        return Err(ProtoError::MissingVersion(meta));
    }
    let schema = schema::schema()?;
    let index = *schema
        .kinds
        .get(&format!("{api_version}/{kind}"))
        .ok_or_else(|| not_registered(api_version, kind))?;
    let raw = encode::Encoder::new(schema).message(index, obj)?;
    let mut type_meta = Writer::default();
    type_meta.bytes_field(1, api_version.as_bytes());
    type_meta.bytes_field(2, kind.as_bytes());
    let mut unknown = Writer::default();
    unknown.bytes_field(1, &type_meta.buf);
    unknown.bytes_field(2, &raw);
    unknown.bytes_field(3, b"");
    unknown.bytes_field(4, b"");
    let mut body = MAGIC.to_vec();
    body.extend_from_slice(&unknown.buf);
    Ok(body)
}

/// One frame of a `application/vnd.kubernetes.protobuf;stream=watch` response: a 4-byte
/// big-endian length, then a `metav1.WatchEvent` without envelope (upstream's raw stream
/// serializer) whose `object` holds the full protobuf encoding of `obj` (magic and envelope
/// included, upstream's embedded encoder). `event_type` is `ADDED`, `MODIFIED`, `DELETED`,
/// `BOOKMARK` or `ERROR` (then `obj` is a `Status`).
pub fn encode_watch_event(event_type: &str, obj: &Value) -> Result<Vec<u8>, ProtoError> {
    let object = encode(obj)?;
    let mut raw = Writer::default();
    raw.bytes_field(1, &object);
    let mut event = Writer::default();
    event.bytes_field(1, event_type.as_bytes());
    event.bytes_field(2, &raw.buf);
    let len = u32::try_from(event.buf.len()).map_err(|_| ProtoError::InvalidLength)?;
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(&event.buf);
    Ok(frame)
}

/// Whether `body` starts with the Kubernetes protobuf magic.
pub fn is_protobuf(body: &[u8]) -> bool {
    body.starts_with(MAGIC)
}

fn not_registered(api_version: &str, kind: &str) -> ProtoError {
    ProtoError::NotRegistered {
        kind: kind.to_string(),
        version: api_version.to_string(),
    }
}

/// The parts of `runtime.Unknown` the decoder uses.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: Option<&'a [u8]>,
}

fn unwrap_envelope(body: &[u8]) -> Result<Envelope<'_>, ProtoError> {
    if body.is_empty() {
        return Err(ProtoError::EmptyData);
    }
    if !body.starts_with(MAGIC) {
        return Err(ProtoError::NotProtobuf);
    }
    if body.len() == MAGIC.len() {
        return Err(ProtoError::EmptyBody);
    }
    let mut env = Envelope {
        api_version: String::new(),
        kind: String::new(),
        raw: None,
    };
    let mut type_meta = Vec::new();
    for (number, value) in wire::fields(&body[MAGIC.len()..], "Unknown")? {
        match (number, value) {
            (1, Wire::Bytes(b)) => type_meta.extend_from_slice(b),
            (2, Wire::Bytes(b)) => env.raw = Some(b),
            (3 | 4, Wire::Bytes(_)) => {}
            (1..=4, other) => {
                let name =
                    ["TypeMeta", "Raw", "ContentEncoding", "ContentType"][number as usize - 1];
                return Err(ProtoError::Malformed(format!(
                    "proto: wrong wireType = {} for field {name}",
                    other.wire_type()
                )));
            }
            _ => {}
        }
    }
    for (number, value) in wire::fields(&type_meta, "TypeMeta")? {
        let target = match number {
            1 => &mut env.api_version,
            2 => &mut env.kind,
            _ => continue,
        };
        match value {
            Wire::Bytes(b) => *target = String::from_utf8_lossy(b).into_owned(),
            other => {
                return Err(ProtoError::Malformed(format!(
                    "proto: wrong wireType = {} for field {}",
                    other.wire_type(),
                    if number == 1 { "APIVersion" } else { "Kind" }
                )));
            }
        }
    }
    Ok(env)
}

/// Upstream's `copyKindDefaults` followed by its missing kind/version checks.
fn apply_defaults(
    env: &Envelope<'_>,
    defaults: Option<(&str, &str)>,
) -> Result<(String, String), ProtoError> {
    let (mut api_version, mut kind) = (env.api_version.clone(), env.kind.clone());
    if let Some((default_version, default_kind)) = defaults {
        if kind.is_empty() {
            kind = default_kind.to_string();
        }
        let version = api_version.rsplit('/').next().unwrap_or_default();
        if version.is_empty() && !default_version.is_empty() {
            api_version = default_version.to_string();
        }
    }
    let meta = format!(
        "runtime.TypeMeta{{APIVersion:{:?}, Kind:{:?}}}",
        env.api_version, env.kind
    );
    if kind.is_empty() {
        return Err(ProtoError::MissingKind(meta));
    }
    if api_version
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .is_empty()
    {
        return Err(ProtoError::MissingVersion(meta));
    }
    Ok((api_version, kind))
}
