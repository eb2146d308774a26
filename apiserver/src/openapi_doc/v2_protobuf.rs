//! The `/openapi/v2` document in its protobuf form (gnostic's `openapi.v2.Document`), which is
//! the only form client-go's discovery asks for: kubectl 1.27/1.28 read it for `apply`,
//! `create -f`, `replace`, `edit`, `diff` and `explain`.
//!
//! The walk follows the JSON document: each Swagger object becomes its message with gnostic's
//! field numbers, `x-*` keys become `vendor_extension` entries, and free-form values (defaults,
//! enums, examples, extensions) are `Any` messages carrying the value as YAML text, as gnostic
//! writes them. Proto3 rules apply: empty strings, `false` and zero are not written.

use serde_json::{Map, Value};

use crate::protobuf::Writer;

/// Encodes a Swagger 2.0 JSON document as gnostic's `openapi.v2.Document`.
pub fn encode_document(doc: &Value) -> Vec<u8> {
    let mut w = Writer::default();
    let Some(obj) = doc.as_object() else {
        return w.buf;
    };
    string(&mut w, 1, obj.get("swagger"));
    message(&mut w, 2, obj.get("info"), info);
    string(&mut w, 3, obj.get("host"));
    string(&mut w, 4, obj.get("basePath"));
    strings(&mut w, 5, obj.get("schemes"));
    strings(&mut w, 6, obj.get("consumes"));
    strings(&mut w, 7, obj.get("produces"));
    message(&mut w, 8, obj.get("paths"), paths);
    message(&mut w, 9, obj.get("definitions"), |w, v| {
        named(w, 1, v, schema)
    });
    message(&mut w, 10, obj.get("parameters"), |w, v| {
        named(w, 1, v, parameter)
    });
    message(&mut w, 11, obj.get("responses"), |w, v| {
        named(w, 1, v, response)
    });
    messages(&mut w, 12, obj.get("security"), security_requirement);
    message(&mut w, 13, obj.get("securityDefinitions"), |w, v| {
        named(w, 1, v, security_definitions_item)
    });
    messages(&mut w, 14, obj.get("tags"), tag);
    message(&mut w, 15, obj.get("externalDocs"), external_docs);
    extensions(&mut w, 16, obj);
    w.buf
}

/// A message-building function: writes the fields of one JSON object into a writer.
type Build = fn(&mut Writer, &Value);

fn string(w: &mut Writer, number: u32, v: Option<&Value>) {
    if let Some(s) = v.and_then(Value::as_str)
        && !s.is_empty()
    {
        w.bytes_field(number, s.as_bytes());
    }
}

fn strings(w: &mut Writer, number: u32, v: Option<&Value>) {
    for s in v.and_then(Value::as_array).into_iter().flatten() {
        if let Some(s) = s.as_str() {
            w.bytes_field(number, s.as_bytes());
        }
    }
}

fn boolean(w: &mut Writer, number: u32, v: Option<&Value>) {
    if v.and_then(Value::as_bool) == Some(true) {
        w.varint_field(number, 1);
    }
}

fn int64(w: &mut Writer, number: u32, v: Option<&Value>) {
    if let Some(n) = v.and_then(Value::as_i64)
        && n != 0
    {
        // Negative int64 values are written as their two's complement, as protobuf does.
        w.varint_field(number, n as u64);
    }
}

fn double(w: &mut Writer, number: u32, v: Option<&Value>) {
    if let Some(n) = v.and_then(Value::as_f64)
        && n != 0.0
    {
        w.fixed64_field(number, n.to_bits());
    }
}

/// Writes `v` (when present) as an embedded message built by `build`.
fn message(w: &mut Writer, number: u32, v: Option<&Value>, build: impl Fn(&mut Writer, &Value)) {
    if let Some(v) = v {
        let mut inner = Writer::default();
        build(&mut inner, v);
        w.bytes_field(number, &inner.buf);
    }
}

fn messages(w: &mut Writer, number: u32, v: Option<&Value>, build: Build) {
    for item in v.and_then(Value::as_array).into_iter().flatten() {
        message(w, number, Some(item), build);
    }
}

/// A JSON map as repeated `Named*` messages (`name` = 1, `value` = 2).
fn named(w: &mut Writer, number: u32, v: &Value, build: Build) {
    for (name, value) in v.as_object().into_iter().flatten() {
        message(w, number, Some(value), |inner, value| {
            inner.bytes_field(1, name.as_bytes());
            message(inner, 2, Some(value), build);
        });
    }
}

/// gnostic's `Any`: the value as YAML text (field 2).
fn any(w: &mut Writer, v: &Value) {
    let yaml = serde_yaml::to_string(v).unwrap_or_default();
    w.bytes_field(2, yaml.as_bytes());
}

fn anys(w: &mut Writer, number: u32, v: Option<&Value>) {
    for item in v.and_then(Value::as_array).into_iter().flatten() {
        message(w, number, Some(item), any);
    }
}

/// Every `x-*` key of `obj` as a `NamedAny` in field `number`.
fn extensions(w: &mut Writer, number: u32, obj: &Map<String, Value>) {
    for (name, value) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
        message(w, number, Some(value), |inner, value| {
            inner.bytes_field(1, name.as_bytes());
            message(inner, 2, Some(value), any);
        });
    }
}

fn info(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    string(w, 1, o.get("title"));
    string(w, 2, o.get("version"));
    string(w, 3, o.get("description"));
    string(w, 4, o.get("termsOfService"));
    message(w, 5, o.get("contact"), |w, v| {
        let Some(o) = v.as_object() else { return };
        string(w, 1, o.get("name"));
        string(w, 2, o.get("url"));
        string(w, 3, o.get("email"));
        extensions(w, 4, o);
    });
    message(w, 6, o.get("license"), |w, v| {
        let Some(o) = v.as_object() else { return };
        string(w, 1, o.get("name"));
        string(w, 2, o.get("url"));
        extensions(w, 3, o);
    });
    extensions(w, 7, o);
}

fn external_docs(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    string(w, 1, o.get("description"));
    string(w, 2, o.get("url"));
    extensions(w, 3, o);
}

fn tag(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    string(w, 1, o.get("name"));
    string(w, 2, o.get("description"));
    message(w, 3, o.get("externalDocs"), external_docs);
    extensions(w, 4, o);
}

fn paths(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    extensions(w, 1, o);
    for (path, item) in o.iter().filter(|(k, _)| !k.starts_with("x-")) {
        message(w, 2, Some(item), |inner, item| {
            inner.bytes_field(1, path.as_bytes());
            message(inner, 2, Some(item), path_item);
        });
    }
}

fn path_item(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    string(w, 1, o.get("$ref"));
    for (number, verb) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        message(w, number, o.get(verb), operation);
    }
    messages(w, 9, o.get("parameters"), parameters_item);
    extensions(w, 10, o);
}

fn operation(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    strings(w, 1, o.get("tags"));
    string(w, 2, o.get("summary"));
    string(w, 3, o.get("description"));
    message(w, 4, o.get("externalDocs"), external_docs);
    string(w, 5, o.get("operationId"));
    strings(w, 6, o.get("produces"));
    strings(w, 7, o.get("consumes"));
    messages(w, 8, o.get("parameters"), parameters_item);
    message(w, 9, o.get("responses"), responses);
    strings(w, 10, o.get("schemes"));
    boolean(w, 11, o.get("deprecated"));
    messages(w, 12, o.get("security"), security_requirement);
    extensions(w, 13, o);
}

/// `ParametersItem`: a reference (2) or a parameter (1).
fn parameters_item(w: &mut Writer, v: &Value) {
    if v.get("$ref").is_some() {
        message(w, 2, Some(v), json_reference);
    } else {
        message(w, 1, Some(v), parameter);
    }
}

fn json_reference(w: &mut Writer, v: &Value) {
    string(w, 1, v.get("$ref"));
    string(w, 2, v.get("description"));
}

/// `Parameter`: a body parameter (1) or one of the non-body kinds (2).
fn parameter(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    if o.get("in").and_then(Value::as_str) == Some("body") {
        message(w, 1, Some(v), |w, v| {
            let Some(o) = v.as_object() else { return };
            string(w, 1, o.get("description"));
            string(w, 2, o.get("name"));
            string(w, 3, o.get("in"));
            boolean(w, 4, o.get("required"));
            message(w, 5, o.get("schema"), schema);
            extensions(w, 6, o);
        });
        return;
    }
    let sub = match o.get("in").and_then(Value::as_str) {
        Some("header") => 1,
        Some("formData") => 2,
        Some("path") => 4,
        _ => 3,
    };
    message(w, 2, Some(v), |w, v| {
        message(w, sub, Some(v), |w, v| non_body_sub_schema(w, v, sub));
    });
}

/// The header/formData/query/path sub-schemas: query and formData have `allowEmptyValue` as
/// field 5, which shifts every later field by one.
fn non_body_sub_schema(w: &mut Writer, v: &Value, sub: u32) {
    let Some(o) = v.as_object() else { return };
    boolean(w, 1, o.get("required"));
    string(w, 2, o.get("in"));
    string(w, 3, o.get("description"));
    string(w, 4, o.get("name"));
    let shift = if sub == 2 || sub == 3 {
        boolean(w, 5, o.get("allowEmptyValue"));
        1
    } else {
        0
    };
    primitive_fields(w, o, 5 + shift);
    extensions(w, 22 + shift, o);
}

/// The primitive-type fields shared by parameters, headers and items, from `type` at
/// number `first` to `multipleOf` at `first + 16`.
fn primitive_fields(w: &mut Writer, o: &Map<String, Value>, first: u32) {
    string(w, first, o.get("type"));
    string(w, first + 1, o.get("format"));
    message(w, first + 2, o.get("items"), primitives_items);
    string(w, first + 3, o.get("collectionFormat"));
    message(w, first + 4, o.get("default"), any);
    double(w, first + 5, o.get("maximum"));
    boolean(w, first + 6, o.get("exclusiveMaximum"));
    double(w, first + 7, o.get("minimum"));
    boolean(w, first + 8, o.get("exclusiveMinimum"));
    int64(w, first + 9, o.get("maxLength"));
    int64(w, first + 10, o.get("minLength"));
    string(w, first + 11, o.get("pattern"));
    int64(w, first + 12, o.get("maxItems"));
    int64(w, first + 13, o.get("minItems"));
    boolean(w, first + 14, o.get("uniqueItems"));
    anys(w, first + 15, o.get("enum"));
    double(w, first + 16, o.get("multipleOf"));
}

fn primitives_items(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    primitive_fields(w, o, 1);
    extensions(w, 18, o);
}

fn responses(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    for (code, value) in o.iter().filter(|(k, _)| !k.starts_with("x-")) {
        message(w, 1, Some(value), |inner, value| {
            inner.bytes_field(1, code.as_bytes());
            message(inner, 2, Some(value), |w, v| {
                if v.get("$ref").is_some() {
                    message(w, 2, Some(v), json_reference);
                } else {
                    message(w, 1, Some(v), response);
                }
            });
        });
    }
    extensions(w, 2, o);
}

fn response(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    string(w, 1, o.get("description"));
    // SchemaItem: a schema (1); gnostic's file schema (2) is for `type: file` only.
    message(w, 2, o.get("schema"), |w, v| message(w, 1, Some(v), schema));
    message(w, 3, o.get("headers"), |w, v| named(w, 1, v, header));
    message(w, 4, o.get("examples"), |w, v| named(w, 1, v, any));
    extensions(w, 5, o);
}

fn header(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    primitive_fields(w, o, 1);
    string(w, 18, o.get("description"));
    extensions(w, 19, o);
}

/// A JSON Schema object (gnostic's `Schema`).
fn schema(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    string(w, 1, o.get("$ref"));
    string(w, 2, o.get("format"));
    string(w, 3, o.get("title"));
    string(w, 4, o.get("description"));
    message(w, 5, o.get("default"), any);
    double(w, 6, o.get("multipleOf"));
    double(w, 7, o.get("maximum"));
    boolean(w, 8, o.get("exclusiveMaximum"));
    double(w, 9, o.get("minimum"));
    boolean(w, 10, o.get("exclusiveMinimum"));
    int64(w, 11, o.get("maxLength"));
    int64(w, 12, o.get("minLength"));
    string(w, 13, o.get("pattern"));
    int64(w, 14, o.get("maxItems"));
    int64(w, 15, o.get("minItems"));
    boolean(w, 16, o.get("uniqueItems"));
    int64(w, 17, o.get("maxProperties"));
    int64(w, 18, o.get("minProperties"));
    strings(w, 19, o.get("required"));
    anys(w, 20, o.get("enum"));
    message(w, 21, o.get("additionalProperties"), |w, v| match v {
        Value::Bool(b) => w.varint_field(2, u64::from(*b)),
        other => message(w, 1, Some(other), schema),
    });
    message(w, 22, o.get("type"), |w, v| match v {
        Value::Array(_) => strings(w, 1, Some(v)),
        other => string(w, 1, Some(other)),
    });
    message(w, 23, o.get("items"), |w, v| match v {
        Value::Array(_) => messages(w, 1, Some(v), schema),
        other => message(w, 1, Some(other), schema),
    });
    messages(w, 24, o.get("allOf"), schema);
    message(w, 25, o.get("properties"), |w, v| named(w, 1, v, schema));
    string(w, 26, o.get("discriminator"));
    boolean(w, 27, o.get("readOnly"));
    message(w, 28, o.get("xml"), |w, v| {
        let Some(o) = v.as_object() else { return };
        string(w, 1, o.get("name"));
        string(w, 2, o.get("namespace"));
        string(w, 3, o.get("prefix"));
        boolean(w, 4, o.get("attribute"));
        boolean(w, 5, o.get("wrapped"));
        extensions(w, 6, o);
    });
    message(w, 29, o.get("externalDocs"), external_docs);
    message(w, 30, o.get("example"), any);
    extensions(w, 31, o);
}

/// `SecurityRequirement`: a map of scheme name → scopes (`NamedStringArray`).
fn security_requirement(w: &mut Writer, v: &Value) {
    for (name, scopes) in v.as_object().into_iter().flatten() {
        message(w, 1, Some(scopes), |inner, scopes| {
            inner.bytes_field(1, name.as_bytes());
            message(inner, 2, Some(scopes), |w, v| strings(w, 1, Some(v)));
        });
    }
}

/// `SecurityDefinitionsItem`: Kubernetes publishes only `apiKey` (BearerToken) and basic.
fn security_definitions_item(w: &mut Writer, v: &Value) {
    let Some(o) = v.as_object() else { return };
    match o.get("type").and_then(Value::as_str) {
        Some("basic") => message(w, 1, Some(v), |w, v| {
            let Some(o) = v.as_object() else { return };
            string(w, 1, o.get("type"));
            string(w, 2, o.get("description"));
            extensions(w, 3, o);
        }),
        Some("apiKey") => message(w, 2, Some(v), |w, v| {
            let Some(o) = v.as_object() else { return };
            string(w, 1, o.get("type"));
            string(w, 2, o.get("name"));
            string(w, 3, o.get("in"));
            string(w, 4, o.get("description"));
            extensions(w, 5, o);
        }),
        _ => {}
    }
}
