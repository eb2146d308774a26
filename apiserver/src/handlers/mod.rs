//! Resource request handlers.

pub mod delete;
pub mod discovery;
pub mod other;
pub mod read;
pub mod subresource;
pub mod watch;
pub mod write;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response};
use serde_json::Value;

use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::registry::ResourceDef;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::StoredObject;
use crate::store::object::field_value;

/// Label and field selection of a list or watch.
#[derive(Debug, Default)]
pub struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    /// Parses and validates the selectors of a request.
    pub fn from_req(def: &ResourceDef, r: &Req) -> ApiResult<Self> {
        let labels = LabelSelector::parse(r.q("labelSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let fields = FieldSelector::parse(r.q("fieldSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        for req in &fields.0 {
            if !def.field_supported(&req.field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {}",
                    req.field
                )));
            }
        }
        Ok(Filter { labels, fields })
    }

    /// Whether neither selector restricts anything.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// The exact name a field selector asks for, if any (kubectl's delete wait).
    pub fn exact_name(&self) -> Option<&str> {
        self.fields.exact("metadata.name")
    }

    /// Whether an object (in namespace `ns` named `name`) is selected.
    pub fn matches(&self, def: &ResourceDef, ns: &str, name: &str, so: &StoredObject) -> bool {
        if !self.labels.matches(|k| so.label(k)) {
            return false;
        }
        if self.fields.is_empty() {
            return true;
        }
        let parsed = std::cell::OnceCell::new();
        self.fields.matches(|f| match f {
            "metadata.name" => Some(name.to_string()),
            "metadata.namespace" => Some(ns.to_string()),
            _ => match def.fields.iter().position(|x| x == f) {
                Some(i) if so.fields.len() == def.fields.len() => Some(so.fields[i].to_string()),
                _ => field_value(parsed.get_or_init(|| so.value().unwrap_or(Value::Null)), f),
            },
        })
    }
}

/// Whether stored objects must be converted for this group-version.
pub fn needs_conversion(def: &ResourceDef) -> bool {
    def.group == "events.k8s.io"
        || def
            .crd
            .as_ref()
            .is_some_and(|c| c.storage_version != def.version)
}

/// The JSON of a stored object as served by `def` (converted when the version differs).
pub fn render(def: &ResourceDef, so: &StoredObject) -> Bytes {
    if !needs_conversion(def) {
        return so.json.clone();
    }
    match so.value() {
        Ok(v) => Bytes::from(serde_json::to_vec(&to_served(def, v)).unwrap_or_default()),
        Err(_) => so.json.clone(),
    }
}

/// Converts a stored object to the served version.
pub fn to_served(def: &ResourceDef, mut v: Value) -> Value {
    if def.group == "events.k8s.io" {
        return crate::kinds::event::from_core(&v);
    }
    if def.crd.is_some()
        && let Some(o) = v.as_object_mut()
    {
        o.insert("apiVersion".into(), Value::String(def.api_version()));
    }
    v
}

/// Converts an object of the served version to its stored form.
pub fn to_stored(def: &ResourceDef, mut v: Value) -> Value {
    if def.group == "events.k8s.io" {
        return crate::kinds::event::to_core(&v);
    }
    if let Some(c) = &def.crd
        && let Some(o) = v.as_object_mut()
    {
        o.insert(
            "apiVersion".into(),
            Value::String(format!("{}/{}", def.group, c.storage_version)),
        );
    }
    v
}

/// The Table convertor of a resource.
pub fn table_convertor(def: &ResourceDef) -> ApiResult<crate::table::TableConvertor> {
    match &def.crd {
        Some(c) => {
            let cols = Value::Array(c.printer_columns.clone());
            crate::table::TableConvertor::crd(Some(&cols))
                .map_err(|e| ApiError::internal(e.to_string()))
        }
        None => Ok(crate::table::TableConvertor::builtin(&def.group, &def.kind)),
    }
}

/// Objects as a `meta.k8s.io/v1` Table, honouring `includeObject`.
pub fn as_table(
    def: &ResourceDef,
    r: &Req,
    items: &[Value],
    list_meta: &Value,
    no_headers: bool,
) -> ApiResult<Value> {
    let include = crate::table::IncludeObject::from_query(r.q("includeObject"))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(table_convertor(def)?.to_table(
        items,
        list_meta,
        include,
        no_headers,
        jiff::Timestamp::now(),
    ))
}

/// Routes a resource request to its handler.
pub async fn resource(api: &Arc<Api>, mut r: Req) -> Response<Body> {
    let info = r.info.clone();
    let Some(def) = api
        .registry
        .find(&info.group, &info.version, &info.resource)
    else {
        return response::error(&ApiError::no_route());
    };
    if (info.namespace.is_some() && !def.namespaced)
        || (!def.namespaced && info.legacy_watch && info.namespace.is_some())
    {
        return response::error(&ApiError::no_route());
    }
    let verb = crate::http::request::verb(&r.method, &info, r.flag("watch"));
    if let Err(e) =
        crate::auth::authorize(&r.user, verb, &format!("{}/{}", def.group, def.resource))
    {
        return response::error(&e);
    }
    let result = match info.subresource.as_deref() {
        None => main_resource(api, &def, &mut r, verb).await,
        Some(sub) => {
            if def.subresource(sub).is_none() {
                Err(ApiError::no_route())
            } else {
                subresource::serve(api, &def, &mut r, sub).await
            }
        }
    };
    result.unwrap_or_else(|e| response::error(&e))
}

async fn main_resource(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
    verb: &str,
) -> ApiResult<Response<Body>> {
    let watchable = verb == "watch" && def.supports("list");
    if !(def.supports(verb) || watchable) {
        return Err(ApiError::method_not_allowed(
            verb,
            Target {
                group: &def.group,
                resource: &def.resource,
                name: "",
            },
        ));
    }
    if !def.is_stored() {
        return subresource::virtual_create(api, def, r).await;
    }
    match (verb, &r.method) {
        ("get", _) => read::get(api, def, r),
        ("list", _) => read::list(api, def, r).await,
        ("watch", _) => watch::watch(api.clone(), def.clone(), r).await,
        ("create", &Method::POST) => write::create(api, def, r).await,
        ("update", _) => write::update(api, def, r, None).await,
        ("patch", _) => write::patch(api, def, r, None).await,
        ("delete", _) => delete::delete(api, def, r).await,
        ("deletecollection", _) => delete::delete_collection(api, def, r).await,
        _ => Err(ApiError::method_not_allowed(
            verb,
            Target {
                group: &def.group,
                resource: &def.resource,
                name: "",
            },
        )),
    }
}
