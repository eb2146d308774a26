//! The `/openapi/v2` and `/openapi/v3` documents for the served kinds: building them, and the
//! answer to a request for one (negotiation, ETags, hash redirects) as plain data. The HTTP
//! handler that caches them per registry generation and sends the answer is `handlers::openapi`.
//!
//! Built-in definitions come from the schema index (k8s-openapi's typed API plus upstream's
//! `x-kubernetes-*` extensions); CRD versions contribute their structural schema under
//! upstream's definition name (`com.example.stable.v1.CronTab`) with `apiVersion`, `kind` and
//! `metadata` (ObjectMeta) added. Each document has `paths` with operations carrying
//! `x-kubernetes-group-version-kind` and the `fieldValidation` parameter on PATCH, which is
//! what kubectl's server-side validation check looks for. v3 documents hold only the
//! definitions reachable from their group-version, with refs wrapped in `allOf` as upstream.
//! The v3 index links each document with `?hash=<ETag>`; hashed URLs answer with immutable
//! cache headers and a stale hash redirects (301) to the current one, as kube-openapi does.
//!
//! `/openapi/v2` is served as JSON or as gnostic protobuf (`v2_protobuf`), by `Accept`:
//! client-go asks for protobuf only, and kubectl 1.27/1.28 need it for apply, create -f, edit,
//! diff and explain. Deviations: no watch or proxy paths; operation descriptions are shorter
//! than upstream's.

mod crd_schema;
mod paths;
mod served_kind;
#[cfg(test)]
mod tests;
mod v2_protobuf;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use crate::schema::{SchemaError, SchemaIndex};
use paths::Flavour;
pub use served_kind::ServedKind;

/// Errors building the documents.
#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    /// The built-in schema index is unavailable.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A built-in kind the caller serves has no definition.
    #[error("no OpenAPI definition for {0}")]
    UnknownKind(String),
}

/// An HTTP answer for an OpenAPI path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenApiResponse {
    /// Status code.
    pub status: u16,
    /// Headers to set.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// The media types `/openapi/v2` is served as besides JSON (upstream's two spellings; answers
/// carry the second, which Go's `mime` package can parse).
const V2_PROTOBUF: [&str; 2] = [
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
];

struct Doc {
    body: Vec<u8>,
    etag: String,
    content_type: &'static str,
}

impl Doc {
    fn new(value: &Value) -> Doc {
        Doc::from_body(
            serde_json::to_vec(value).unwrap_or_default(),
            "application/json",
        )
    }

    fn from_body(body: Vec<u8>, content_type: &'static str) -> Doc {
        let etag = hex::encode_upper(Sha512::digest(&body));
        Doc {
            body,
            etag,
            content_type,
        }
    }
}

/// The built documents; rebuild when the set of served kinds changes (CRDs).
pub struct OpenApi {
    v2: Doc,
    v2_protobuf: Doc,
    v3: BTreeMap<String, Doc>,
    index: Doc,
}

/// Upstream's CRD definition name: reversed group, then version and kind.
pub fn crd_definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

fn group_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

const META_DEFS: [&str; 4] = [
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
];

impl OpenApi {
    /// Builds every document for `kinds`; `version` is the reported Kubernetes version.
    pub fn build(kinds: &[ServedKind], version: &str) -> Result<OpenApi, OpenApiError> {
        let index = SchemaIndex::builtin()?;
        let mut definitions = index.definitions().clone();
        let mut v2_only = Map::new();
        let mut names = Vec::new();
        for kind in kinds {
            names.push(definition_names(
                index,
                kind,
                &mut definitions,
                &mut v2_only,
            )?);
        }
        let mut v2_definitions = definitions.clone();
        v2_definitions.extend(v2_only);
        let info = json!({"title": "Kubernetes", "version": version});

        let mut v2_paths = Map::new();
        for (kind, (def, list)) in kinds.iter().zip(&names) {
            paths::add_paths(&mut v2_paths, kind, def, list, Flavour::V2);
        }
        let v2 = json!({
            "swagger": "2.0",
            "info": info,
            "paths": v2_paths,
            "definitions": v2_definitions,
            "securityDefinitions": {"BearerToken": {
                "description": "Bearer Token authentication", "type": "apiKey",
                "name": "authorization", "in": "header"}},
            "security": [{"BearerToken": []}],
        });

        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, kind) in kinds.iter().enumerate() {
            groups
                .entry(group_path(&kind.group, &kind.version))
                .or_default()
                .push(i);
        }
        let mut v3 = BTreeMap::new();
        for (path, members) in &groups {
            let mut doc_paths = Map::new();
            let mut roots: Vec<&str> = META_DEFS.to_vec();
            for &i in members {
                let (def, list) = &names[i];
                paths::add_paths(&mut doc_paths, &kinds[i], def, list, Flavour::V3);
                roots.push(def);
                roots.push(list);
                if kinds[i].subresources.iter().any(|s| s == "scale") {
                    roots.push("io.k8s.api.autoscaling.v1.Scale");
                }
            }
            let schemas = v3_schemas(&definitions, &roots);
            let doc = json!({
                "openapi": "3.0.0",
                "info": info,
                "paths": doc_paths,
                "components": {
                    "schemas": schemas,
                    "securitySchemes": {"BearerToken": {
                        "type": "apiKey", "description": "Bearer Token authentication",
                        "name": "authorization", "in": "header"}}
                }
            });
            v3.insert(path.clone(), Doc::new(&doc));
        }
        let mut index_paths = Map::new();
        for (path, doc) in &v3 {
            index_paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.etag)}),
            );
        }
        Ok(OpenApi {
            v2: Doc::new(&v2),
            v2_protobuf: Doc::from_body(v2_protobuf::encode_document(&v2), V2_PROTOBUF[1]),
            v3,
            index: Doc::new(&json!({"paths": index_paths})),
        })
    }

    /// The `/openapi/v2` JSON document.
    pub fn v2_json(&self) -> &[u8] {
        &self.v2.body
    }

    /// The `/openapi/v2` document as gnostic protobuf.
    pub fn v2_protobuf(&self) -> &[u8] {
        &self.v2_protobuf.body
    }

    /// The `/openapi/v3` index.
    pub fn v3_index(&self) -> &[u8] {
        &self.index.body
    }

    /// The v3 document of a group-version path (`api/v1`, `apis/apps/v1`).
    pub fn v3_document(&self, group_path: &str) -> Option<&[u8]> {
        self.v3.get(group_path).map(|d| d.body.as_slice())
    }

    /// Answers `GET /openapi/v2`, `/openapi/v3` or `/openapi/v3/<group-path>` with upstream's
    /// caching behaviour. `path` is the request path, `hash` the `hash` query parameter.
    pub fn serve(
        &self,
        path: &str,
        hash: Option<&str>,
        accept: Option<&str>,
        if_none_match: Option<&str>,
    ) -> OpenApiResponse {
        let path = path.trim_end_matches('/');
        if path == "/openapi/v2" {
            return match v2_media(accept) {
                Some(V2Media::Json) => document(&self.v2, None, if_none_match),
                Some(V2Media::Protobuf) => document(&self.v2_protobuf, None, if_none_match),
                None => plain(
                    406,
                    &format!(
                        "none of the accepted media types is served for /openapi/v2 (application/json, {})",
                        V2_PROTOBUF.join(", ")
                    ),
                ),
            };
        }
        if path == "/openapi/v3" {
            return document(&self.index, None, if_none_match);
        }
        let Some(group_path) = path.strip_prefix("/openapi/v3/") else {
            return plain(404, "not found");
        };
        let Some(doc) = self.v3.get(group_path) else {
            return plain(404, "not found");
        };
        if let Some(hash) = hash
            && hash != doc.etag
        {
            return OpenApiResponse {
                status: 301,
                headers: vec![(
                    "Location",
                    format!("/openapi/v3/{group_path}?hash={}", doc.etag),
                )],
                body: Vec::new(),
            };
        }
        document(doc, hash, if_none_match)
    }
}

/// The forms of the v2 document.
enum V2Media {
    Json,
    Protobuf,
}

/// The first form in `Accept` that is served (no header: JSON).
fn v2_media(accept: Option<&str>) -> Option<V2Media> {
    let Some(accept) = accept else {
        return Some(V2Media::Json);
    };
    accept.split(',').find_map(|part| {
        let media = part.split(';').next().unwrap_or_default().trim();
        match media {
            "application/json" | "application/*" | "*/*" | "" => Some(V2Media::Json),
            m if V2_PROTOBUF.contains(&m) => Some(V2Media::Protobuf),
            _ => None,
        }
    })
}

fn plain(status: u16, message: &str) -> OpenApiResponse {
    OpenApiResponse {
        status,
        headers: vec![("Content-Type", "text/plain; charset=utf-8".to_owned())],
        body: message.as_bytes().to_vec(),
    }
}

fn document(doc: &Doc, hash: Option<&str>, if_none_match: Option<&str>) -> OpenApiResponse {
    let etag = format!("\"{}\"", doc.etag);
    let mut headers = vec![
        ("Content-Type", doc.content_type.to_owned()),
        ("Etag", etag.clone()),
    ];
    if hash.is_some() {
        let expires = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(24 * 365))
            .unwrap_or(jiff::Timestamp::MAX)
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        headers.push(("Vary", "Accept".to_owned()));
        headers.push(("Cache-Control", "public, immutable".to_owned()));
        headers.push(("Expires", expires));
    }
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        return OpenApiResponse {
            status: 304,
            headers,
            body: Vec::new(),
        };
    }
    OpenApiResponse {
        status: 200,
        headers,
        body: doc.body.clone(),
    }
}

/// The definition names (kind, list) of a served kind, adding CRD definitions.
/// CRD definitions go into `definitions` as served by v3, and their v2 form into `v2_only`.
fn definition_names(
    index: &SchemaIndex,
    kind: &ServedKind,
    definitions: &mut Map<String, Value>,
    v2_only: &mut Map<String, Value>,
) -> Result<(String, String), OpenApiError> {
    match &kind.schema {
        None => {
            let gvk = crate::schema::Gvk::new(&kind.group, &kind.version, &kind.kind);
            let builtin = index
                .builtin_kind(&gvk)
                .ok_or_else(|| OpenApiError::UnknownKind(gvk.api_version() + "/" + &kind.kind))?;
            let list = builtin
                .list_definition()
                .unwrap_or_else(|| "io.k8s.apimachinery.pkg.apis.meta.v1.Status".to_owned());
            Ok((builtin.definition.clone(), list))
        }
        Some(schema) => {
            let name = crd_definition_name(&kind.group, &kind.version, &kind.kind);
            let list = format!("{name}List");
            definitions.insert(name.clone(), crd_schema::definition(kind, schema));
            definitions.insert(list.clone(), crd_schema::list_definition(kind, &name));
            v2_only.insert(name.clone(), crd_schema::v2_definition(kind, schema));
            Ok((name, list))
        }
    }
}

/// The v3 `components.schemas` reachable from `roots`, refs rewritten for v3.
fn v3_schemas(definitions: &Map<String, Value>, roots: &[&str]) -> Map<String, Value> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = roots.iter().map(|r| (*r).to_owned()).collect();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(def) = definitions.get(&name) {
            collect_refs(def, &mut stack);
        }
    }
    seen.into_iter()
        .filter_map(|name| {
            let def = definitions.get(&name)?;
            Some((name, to_v3(def)))
        })
        .collect()
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str)
                && let Some(name) = r.strip_prefix("#/definitions/")
            {
                out.push(name.to_owned());
            }
            for v in map.values() {
                collect_refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Rewrites a v2 schema for v3: refs point into components, and a ref with siblings is wrapped
/// in `allOf` (JSON Schema ignores siblings of `$ref`).
fn to_v3(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            let mut reference = None;
            for (k, v) in map {
                if k == "$ref" && v.is_string() {
                    let target = v
                        .as_str()
                        .map(|r| r.replace("#/definitions/", "#/components/schemas/"))
                        .unwrap_or_default();
                    reference = Some(json!({"$ref": target}));
                } else {
                    out.insert(k.clone(), to_v3(v));
                }
            }
            match reference {
                Some(r) if out.is_empty() => r,
                Some(r) => {
                    out.insert("allOf".into(), json!([r]));
                    Value::Object(out)
                }
                None => Value::Object(out),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(to_v3).collect()),
        other => other.clone(),
    }
}
