//! Types whose Go JSON form differs from their struct: both directions, matching the
//! hand-written `MarshalJSON`/`UnmarshalJSON` and protobuf methods upstream.

use serde_json::Value;

use super::error::ProtoError;
use super::schema::Custom;
use super::wire::{self, Wire, Writer};

/// The JSON value of a custom type without schema fields (Quantity, Time, ...), from its bytes.
pub(crate) fn decode(c: Custom, name: &str, data: &[u8]) -> Result<Value, ProtoError> {
    let fields = wire::fields(data, name)?;
    let last = |n: u32| {
        fields
            .iter()
            .rev()
            .find(|(num, _)| *num == n)
            .map(|(_, w)| *w)
    };
    match c {
        Custom::Quantity => match last(1) {
            Some(w) => {
                let s = string(w, "String")?;
                check_quantity(&s)?;
                Ok(Value::String(s))
            }
            None => Ok(Value::String("0".into())),
        },
        Custom::Time | Custom::MicroTime => {
            if data.is_empty() {
                return Ok(Value::Null);
            }
            let seconds = last(1)
                .map(|w| varint(w, "Seconds"))
                .transpose()?
                .unwrap_or(0) as i64;
            let nanos = last(2)
                .map(|w| varint(w, "Nanos"))
                .transpose()?
                .unwrap_or(0) as i32;
            // Time keeps whole seconds only (its Unmarshal drops nanos); MicroTime microseconds.
            let nanos = (c == Custom::MicroTime).then_some(nanos);
            format_time(seconds, nanos).map(Value::String)
        }
        Custom::Duration => {
            let nanos = last(1)
                .map(|w| varint(w, "Duration"))
                .transpose()?
                .unwrap_or(0) as i64;
            Ok(Value::String(format_duration(nanos)))
        }
        Custom::IntOrString => {
            let ty = last(1).map(|w| varint(w, "Type")).transpose()?.unwrap_or(0) as i64;
            match ty {
                0 => Ok(Value::from(last(2).map(|w| varint(w, "IntVal")).transpose()?.unwrap_or(0) as i32)),
                1 => Ok(Value::String(last(3).map(|w| string(w, "StrVal")).transpose()?.unwrap_or_default())),
                _ => Err(ProtoError::Json(
                    "json: error calling MarshalJSON for type intstr.IntOrString: impossible IntOrString.Type".into(),
                )),
            }
        }
        Custom::RawExtension | Custom::FieldsV1 | Custom::Json => {
            let raw = last(1).map(|w| bytes(w, "Raw")).transpose()?;
            raw_json(c, name, raw)
        }
        Custom::PropsOrBool | Custom::PropsOrArray | Custom::PropsOrStringArray | Custom::Items => {
            Err(ProtoError::Schema(format!(
                "{name} is decoded from its fields"
            )))
        }
    }
}

/// The JSON of the custom types that have schema fields, from their decoded field values
/// (in the order of `protobuf-data`: OrBool allows/schema, OrArray schema/jSONSchemas,
/// OrStringArray schema/property, Items items).
pub(crate) fn assemble(c: Custom, values: Vec<Option<Value>>) -> Value {
    let mut it = values.into_iter();
    let mut next = || it.next().flatten();
    match c {
        Custom::PropsOrBool => {
            let allows = next();
            match next() {
                Some(schema) => schema,
                None => allows.unwrap_or(Value::Bool(false)),
            }
        }
        Custom::PropsOrArray | Custom::PropsOrStringArray => {
            let schema = next();
            match next() {
                Some(list) => list,
                None => schema.unwrap_or(Value::Null),
            }
        }
        _ => next().unwrap_or(Value::Null),
    }
}

fn raw_json(c: Custom, name: &str, raw: Option<Vec<u8>>) -> Result<Value, ProtoError> {
    match raw {
        None => Ok(Value::Null),
        Some(r) if r.is_empty() && c == Custom::Json => Ok(Value::Null),
        Some(r) => serde_json::from_slice(&r).map_err(|e| {
            ProtoError::Json(format!(
                "json: error calling MarshalJSON for type {name}: {e}"
            ))
        }),
    }
}

fn varint(w: Wire<'_>, field: &str) -> Result<u64, ProtoError> {
    match w {
        Wire::Varint(v) => Ok(v),
        other => Err(wrong(other, field)),
    }
}

fn bytes(w: Wire<'_>, field: &str) -> Result<Vec<u8>, ProtoError> {
    match w {
        Wire::Bytes(b) => Ok(b.to_vec()),
        other => Err(wrong(other, field)),
    }
}

fn string(w: Wire<'_>, field: &str) -> Result<String, ProtoError> {
    bytes(w, field).map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn wrong(w: Wire<'_>, field: &str) -> ProtoError {
    ProtoError::Malformed(format!(
        "proto: wrong wireType = {} for field {field}",
        w.wire_type()
    ))
}

/// A float64 as Go's `encoding/json` prints it: integral values without a fraction.
pub(crate) fn float_value(f: f64, name: &str) -> Result<Value, ProtoError> {
    if !f.is_finite() {
        return Err(ProtoError::Json(format!(
            "json: unsupported value: {f} (in {name})"
        )));
    }
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        return Ok(Value::from(f as i64));
    }
    Ok(serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null))
}

// ------------------------------------------------------------------------------- encoding

/// Encodes the JSON value of a custom type without schema fields into `w` (message body).
pub(crate) fn encode(c: Custom, v: &Value, w: &mut Writer) -> Result<(), ProtoError> {
    match c {
        Custom::Quantity => {
            let s = match v {
                Value::Null => "0".to_string(),
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                other => return Err(type_error(other, "resource.Quantity")),
            };
            check_quantity(&s)?;
            w.bytes_field(1, s.as_bytes());
        }
        Custom::Time | Custom::MicroTime => {
            let Some(s) = nullable_string(v, "v1.Time")? else {
                return Ok(());
            };
            let (seconds, nanos) = parse_time(s)?;
            // The zero time.Time (0001-01-01T00:00:00Z) marshals to an empty message.
            if seconds == GO_ZERO_TIME_UNIX && nanos == 0 {
                return Ok(());
            }
            w.varint_field(1, seconds as u64);
            let kept = if c == Custom::MicroTime {
                nanos / 1000 * 1000
            } else {
                0
            };
            w.varint_field(2, i64::from(kept) as u64);
        }
        Custom::Duration => {
            let nanos = match nullable_string(v, "v1.Duration")? {
                Some(s) => parse_duration(s)?,
                None => 0,
            };
            w.varint_field(1, nanos as u64);
        }
        Custom::IntOrString => {
            let (ty, int_val, str_val) = match v {
                Value::Null => (0, 0, String::new()),
                Value::String(s) => (1, 0, s.clone()),
                Value::Number(n) => {
                    let i = n
                        .as_i64()
                        .and_then(|i| i32::try_from(i).ok())
                        .ok_or_else(|| {
                            ProtoError::Json(format!(
                                "json: cannot unmarshal number {n} into Go value of type int32"
                            ))
                        })?;
                    (0, i, String::new())
                }
                other => return Err(type_error(other, "intstr.IntOrString")),
            };
            w.varint_field(1, ty);
            w.varint_field(2, i64::from(int_val) as u64);
            w.bytes_field(3, str_val.as_bytes());
        }
        Custom::RawExtension | Custom::FieldsV1 | Custom::Json => {
            if !v.is_null() {
                let raw = serde_json::to_vec(v).map_err(|e| ProtoError::Json(e.to_string()))?;
                w.bytes_field(1, &raw);
            }
        }
        Custom::PropsOrBool | Custom::PropsOrArray | Custom::PropsOrStringArray | Custom::Items => {
            return Err(ProtoError::Schema("encoded from its fields".into()));
        }
    }
    Ok(())
}

fn nullable_string<'a>(v: &'a Value, go_type: &str) -> Result<Option<&'a str>, ProtoError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(type_error(other, go_type)),
    }
}

/// encoding/json's type mismatch error.
pub(crate) fn type_error(v: &Value, go_type: &str) -> ProtoError {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    ProtoError::Json(format!(
        "json: cannot unmarshal {kind} into Go value of type {go_type}"
    ))
}

// ------------------------------------------------------------------------------- times

/// Unix seconds of Go's zero `time.Time`, 0001-01-01T00:00:00Z.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// RFC 3339 in UTC as `metav1.Time` (`…:05Z`, `nanos` None) or `metav1.MicroTime`
/// (`…:05.000000Z`, nanos truncated to microseconds) print it.
pub(crate) fn format_time(seconds: i64, nanos: Option<i32>) -> Result<String, ProtoError> {
    // time.Unix normalises nanoseconds outside [0, 1e9) into the seconds.
    let n = i64::from(nanos.unwrap_or(0));
    let seconds = seconds
        .checked_add(n.div_euclid(1_000_000_000))
        .ok_or_else(|| ProtoError::Json("time out of range".into()))?;
    let micros = n.rem_euclid(1_000_000_000) / 1000;
    let ts = jiff::Timestamp::from_second(seconds).map_err(|e| {
        ProtoError::Json(format!(
            "json: error calling MarshalJSON for type v1.Time: {e}"
        ))
    })?;
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    Ok(match nanos {
        None => format!("{base}Z"),
        Some(_) => format!("{base}.{micros:06}Z"),
    })
}

/// Parses RFC 3339 as `time.Parse(time.RFC3339, s)` does: to Unix seconds and nanoseconds.
pub(crate) fn parse_time(s: &str) -> Result<(i64, i32), ProtoError> {
    let ts: jiff::Timestamp = s.parse().map_err(|_| {
        ProtoError::Json(format!(
            "parsing time {s:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {s:?} as RFC 3339"
        ))
    })?;
    Ok((ts.as_second(), ts.subsec_nanosecond()))
}

// ------------------------------------------------------------------------------- durations

/// `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub(crate) fn format_duration(nanos: i64) -> String {
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let body = if u == 0 {
        return "0s".into();
    } else if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", frac(u, 3))
    } else if u < 1_000_000_000 {
        format!("{}ms", frac(u, 6))
    } else {
        let secs = u / 1_000_000_000;
        let sub = u % 1_000_000_000;
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let sec = frac(s * 1_000_000_000 + sub, 9);
        match (h, m) {
            (0, 0) => format!("{sec}s"),
            (0, m) => format!("{m}m{sec}s"),
            (h, m) => format!("{h}h{m}m{sec}s"),
        }
    };
    if neg { format!("-{body}") } else { body }
}

/// `v / 10^prec` with the fraction's trailing zeros (and a bare point) dropped.
fn frac(v: u64, prec: u32) -> String {
    let p = 10u64.pow(prec);
    let (int, fr) = (v / p, v % p);
    if fr == 0 {
        return int.to_string();
    }
    let digits = format!("{fr:0width$}", width = prec as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, units ns us µs μs ms s m h.
pub(crate) fn parse_duration(s: &str) -> Result<i64, ProtoError> {
    let err = || ProtoError::Json(format!("time: invalid duration {s:?}"));
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    let mut exact: i128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return Err(err());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1i128,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        let (int, fr) = num.split_once('.').unwrap_or((num, ""));
        let int: i128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| err())?
        };
        exact += int * unit;
        if !fr.is_empty() {
            let f: f64 = format!("0.{fr}").parse().map_err(|_| err())?;
            total += f * unit as f64;
        }
        if exact > i64::MAX as i128 {
            return Err(err());
        }
    }
    let v = exact + total as i128;
    let v = i64::try_from(v).map_err(|_| err())?;
    Ok(if neg { -v } else { v })
}

// ------------------------------------------------------------------------------- quantities

/// `resource.ParseQuantity`'s syntax check: number, then a decimal/binary SI suffix or an
/// exponent. The string itself is kept as written.
pub(crate) fn check_quantity(s: &str) -> Result<(), ProtoError> {
    let wrong = || {
        ProtoError::Json(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'".into(),
    )
    };
    if s.is_empty() {
        return Err(wrong());
    }
    let b = s.as_bytes();
    let mut pos = 0;
    if matches!(b[0], b'+' | b'-') {
        pos = 1;
    }
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
    }
    // An empty number before the suffix reads as zero upstream, so it is not checked here.
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && matches!(b[pos], b'+' | b'-') {
        pos += 1;
    }
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos != b.len() {
        return Err(wrong());
    }
    let suffix = &s[suffix_start..];
    let known = matches!(
        suffix,
        "" | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
            | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
    );
    let exponent = suffix.len() > 1
        && matches!(suffix.as_bytes()[0], b'e' | b'E')
        && suffix[1..].parse::<i64>().is_ok();
    if known || exponent {
        Ok(())
    } else {
        Err(ProtoError::Json("unable to parse quantity's suffix".into()))
    }
}
