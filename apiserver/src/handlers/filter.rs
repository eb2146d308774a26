//! Label and field selectors of list, watch and deletecollection requests.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::http::Req;
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
