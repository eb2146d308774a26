//! `meta.k8s.io/v1` Table responses of a resource (built-in printers or CRD columns).

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::http::Req;
use crate::registry::ResourceDef;

/// The Table convertor of a resource.
pub fn table_convertor(def: &ResourceDef) -> ApiResult<crate::table::TableConvertor> {
    match &def.crd {
        Some(c) => {
            let cols = Value::Array(c.printer_columns.clone());
            crate::table::TableConvertor::crd(Some(&cols))
                .map_err(|e| ApiError::internal(e.to_string()))
        }
        None => Ok(crate::table::TableConvertor::builtin(
            def.printer.map(|p| p()),
        )),
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
    let sorted;
    let items = match def.strategy.table_order() {
        Some(cmp) => {
            let mut v = items.to_vec();
            v.sort_by(cmp);
            sorted = v;
            sorted.as_slice()
        }
        None => items,
    };
    Ok(table_convertor(def)?.to_table(
        items,
        list_meta,
        include,
        no_headers,
        jiff::Timestamp::now(),
    ))
}
