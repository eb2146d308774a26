//! Decoding watched objects without their `managedFields`. The field is the largest part of
//! most objects and decodes into a tree of small maps (`fieldsV1`); the syncer never reads it.
//! [`Trimmed`] takes the object's raw JSON, cuts `"managedFields":[…]` out at the byte level
//! and only then decodes the typed object.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

const KEY: &[u8] = b"\"managedFields\"";

/// `json` without any `"managedFields": [...]` member (borrowed when there is none).
pub fn without_managed_fields(json: &[u8]) -> Cow<'_, [u8]> {
    let finder = memchr::memmem::Finder::new(KEY);
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some(at) = finder.find(&json[from..]).map(|i| i + from) {
        from = at + KEY.len();
        let Some((start, end)) = member_span(json, at) else {
            continue;
        };
        let buf = out.get_or_insert_with(|| Vec::with_capacity(json.len()));
        buf.extend_from_slice(&json[copied..start]);
        copied = end;
        from = end;
    }
    match out {
        None => Cow::Borrowed(json),
        Some(mut buf) => {
            buf.extend_from_slice(&json[copied..]);
            Cow::Owned(buf)
        }
    }
}

/// The byte range to cut for the member whose key starts at `at`, including one adjoining
/// comma, or `None` when the match is not a member key holding an array.
fn member_span(json: &[u8], at: usize) -> Option<(usize, usize)> {
    // A key follows `{` or `,` (whitespace aside); anything else is text inside a string.
    let before = json[..at].iter().rposition(|b| !b.is_ascii_whitespace())?;
    if !matches!(json[before], b'{' | b',') {
        return None;
    }
    let mut i = skip_ws(json, at + KEY.len());
    if json.get(i) != Some(&b':') {
        return None;
    }
    i = skip_ws(json, i + 1);
    if json.get(i) != Some(&b'[') {
        return None;
    }
    let end = skip_ws(json, value_end(json, i)?);
    match (json[before], json.get(end)) {
        // `{"managedFields":[…],` → keep `{`, drop the member and its comma.
        (b'{', Some(b',')) => Some((at, end + 1)),
        // `,"managedFields":[…]` → drop the comma before it.
        (b',', _) => Some((before, end)),
        // The only member: `{"managedFields":[…]}`.
        (b'{', _) => Some((at, end)),
        _ => None,
    }
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while json.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The index just past the array or object opening at `open`, strings and escapes respected.
fn value_end(json: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < json.len() {
        match json[i] {
            b'"' => i = string_end(json, i)?,
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                i += 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The index just past the string opening at `open`.
fn string_end(json: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    loop {
        let at = i + memchr::memchr2(b'"', b'\\', json.get(i..)?)?;
        if json[at] == b'\\' {
            i = at + 2;
        } else {
            return Some(at + 1);
        }
    }
}

/// A watched object decoded without its `managedFields` (see the module docs).
#[derive(Debug, Clone)]
pub struct Trimmed<K>(pub K);

impl<'de, K: DeserializeOwned> Deserialize<'de> for Trimmed<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let json = without_managed_fields(raw.get().as_bytes());
        serde_json::from_slice(&json)
            .map(Trimmed)
            .map_err(D::Error::custom)
    }
}

impl<K: Resource<DynamicType = ()>> Resource for Trimmed<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        self.0.meta()
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.meta_mut()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;

    use super::*;

    fn trim(s: &str) -> String {
        String::from_utf8(without_managed_fields(s.as_bytes()).into_owned()).expect("utf-8")
    }

    #[test]
    fn managed_fields_are_cut_wherever_they_stand() {
        let mf = r#"[{"manager":"kubectl","fieldsV1":{"f:metadata":{"f:labels":{".":{}}}},"x":"]}\"["}]"#;
        assert_eq!(
            trim(&format!(
                r#"{{"metadata":{{"name":"a","managedFields":{mf}}},"spec":{{}}}}"#
            )),
            r#"{"metadata":{"name":"a"},"spec":{}}"#
        );
        assert_eq!(
            trim(&format!(
                r#"{{"metadata":{{"managedFields":{mf},"name":"a"}}}}"#
            )),
            r#"{"metadata":{"name":"a"}}"#
        );
        assert_eq!(
            trim(&format!(r#"{{"metadata":{{ "managedFields" : {mf} }}}}"#)),
            r#"{"metadata":{ }}"#
        );
        // Two objects (a list), both cut.
        assert_eq!(
            trim(&format!(
                r#"[{{"metadata":{{"managedFields":{mf}}}}},{{"metadata":{{"name":"b","managedFields":{mf}}}}}]"#
            )),
            r#"[{"metadata":{}},{"metadata":{"name":"b"}}]"#
        );
    }

    #[test]
    fn the_name_inside_strings_or_with_other_values_is_left_alone() {
        for s in [
            r#"{"metadata":{"annotations":{"note":"\"managedFields\":[1]"}}}"#,
            r#"{"metadata":{"annotations":{"x\"managedFields":"[1]"}}}"#,
            r#"{"metadata":{"labels":{"managedFields":"x"}}}"#,
            r#"{"metadata":{"managedFields":null}}"#,
            r#"{"metadata":{"managedFields":[1,2"#,
        ] {
            assert_eq!(trim(s), s);
        }
        assert!(matches!(
            without_managed_fields(b"{\"a\":1}"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn trimmed_objects_decode_as_the_object_without_managed_fields() {
        let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","managedFields":[{"manager":"m","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{}}}],"uid":"u"},"spec":{"containers":[{"name":"c"}]}}"#;
        let Trimmed(pod): Trimmed<Pod> = serde_json::from_str(json).expect("decodes");
        let mut full: Pod = serde_json::from_str(json).expect("decodes");
        assert!(full.metadata.managed_fields.is_some());
        full.metadata.managed_fields = None;
        assert_eq!(pod, full);
    }
}
