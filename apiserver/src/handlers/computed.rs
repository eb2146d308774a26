//! get and list of resources the server computes on each read instead of storing
//! (`ResourceDef::is_computed`: `componentstatuses`), with upstream's quirks: an unknown name
//! is a reason-less 500 `Component not found: <name>`, only `metadata.name` selects, and the
//! deprecation warning goes with every answer, errors included.

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::body::with_warnings;
use super::filter::Filter;
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::kinds::componentstatus;
use crate::registry::ResourceDef;

fn answer(api: &Api, def: &ResourceDef, r: &Req, verb: &str) -> ApiResult<Response<Body>> {
    let (running, stopped) = api.loops.snapshot();
    let failure = api.store.durable().borrow().failed.clone();
    let items = componentstatus::components(&running, &stopped, failure.as_deref());
    match verb {
        "get" => {
            let name = r.info.name.as_deref().unwrap_or_default();
            let obj = items
                .into_iter()
                .find(|o| crate::meta::name(o) == name)
                .ok_or_else(|| ApiError {
                    code: 500,
                    reason: "",
                    message: format!("Component not found: {name}"),
                    details: None,
                    retry_after: None,
                })?;
            if r.table {
                let t = super::tables::as_table(def, r, &[obj], &json!({}), false)?;
                return Ok(response::object(StatusCode::OK, &t, r.enc));
            }
            Ok(response::object(StatusCode::OK, &obj, r.enc))
        }
        "list" => {
            let filter = Filter::from_req(def, r)?;
            let items: Vec<Value> = items
                .into_iter()
                .filter(|o| {
                    filter
                        .exact_name()
                        .is_none_or(|n| crate::meta::name(o) == n)
                })
                .collect();
            if r.table {
                let t = super::tables::as_table(def, r, &items, &json!({}), false)?;
                return Ok(response::object(StatusCode::OK, &t, r.enc));
            }
            let list = json!({"kind": format!("{}List", def.kind), "apiVersion": def.api_version(),
                "metadata": {}, "items": items});
            Ok(response::object(StatusCode::OK, &list, r.enc))
        }
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

/// Serves a read of a computed resource.
pub fn serve(api: &Api, def: &ResourceDef, r: &Req, verb: &str) -> Response<Body> {
    let resp = answer(api, def, r, verb).unwrap_or_else(|e| response::error(&e));
    with_warnings(resp, &[componentstatus::WARNING.to_string()])
}
