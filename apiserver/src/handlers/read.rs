//! get and list.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::filter::Filter;
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::registry::ResourceDef;
use crate::storage::render;
use crate::store::ObjKey;

/// GET of one object.
pub fn get(api: &Api, def: &ResourceDef, r: &Req) -> ApiResult<Response<Body>> {
    let name = r.info.name.as_deref().unwrap_or_default();
    let ns = r.info.namespace.as_deref().unwrap_or_default();
    let so = api.store.get(&def.storage, ns, name).ok_or_else(|| {
        ApiError::not_found(Target {
            group: &def.group,
            resource: &def.resource,
            name,
        })
    })?;
    if r.table {
        let obj = serde_json::from_slice::<Value>(&render(def, &so))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let t = super::tables::as_table(
            def,
            r,
            &[obj],
            &json!({"resourceVersion": so.rv.to_string()}),
            false,
        )?;
        return Ok(response::object(StatusCode::OK, &t, r.enc));
    }
    Ok(response::encoded_bytes(
        StatusCode::OK,
        render(def, &so),
        r.enc,
    ))
}

/// The continue token: upstream's shape, base64 of `{"v","rv","start"}`.
fn encode_continue(rv: u64, key: &ObjKey) -> String {
    let start = format!("{}/{}\u{0}", key.0, key.1);
    let v = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

fn decode_continue(token: &str) -> ApiResult<(u64, ObjKey)> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad());
    }
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let start = start.strip_suffix('\u{0}').unwrap_or(start);
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((rv, (ns.into(), name.into())))
}

/// Waits (up to 3 s, as upstream) until the store reaches `rv`.
pub async fn wait_for_rv(api: &Api, rv: u64) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while api.store.current_rv() < rv {
        if tokio::time::Instant::now() >= deadline {
            let mut e = ApiError::timeout(
                format!(
                    "Too large resource version: {rv}, current: {}",
                    api.store.current_rv()
                ),
                1,
            );
            e.details = Some(Box::new(
                json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
            ));
            return Err(e);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// LIST.
pub async fn list(api: &Arc<Api>, def: &ResourceDef, r: &Req) -> ApiResult<Response<Body>> {
    let filter = Filter::from_req(def, r)?;
    let limit = match r.q("limit") {
        Some(l) if !l.is_empty() => Some(
            l.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        )
        .filter(|l| *l > 0)
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        _ => None,
    };
    let continued = match r.q("continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(decode_continue(c)?),
        None => None,
    };
    let rv_param = r.q("resourceVersion").filter(|s| !s.is_empty());
    let rv_match = r.q("resourceVersionMatch").unwrap_or_default();
    if continued.is_some() && rv_param.is_some_and(|v| v != "0") {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    if let Some(v) = rv_param {
        let want: u64 = v
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version {v:?}")))?;
        if want > 0 {
            wait_for_rv(api, want).await?;
            if rv_match == "Exact" && want != api.store.current_rv() {
                return Err(ApiError::expired(format!(
                    "The resourceVersion for the provided list is too old. (requested {want})"
                )));
            }
        }
    } else if !rv_match.is_empty() {
        return Err(ApiError::bad_request(
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    let ns = r.info.namespace.as_deref();
    let snap = api.store.list(
        &def.storage,
        ns,
        continued.as_ref().map(|(_, k)| k),
        limit,
        |k, o| filter.matches(def, &k.0, &k.1, o),
    );
    let list_rv = continued.as_ref().map(|(rv, _)| *rv).unwrap_or(snap.rv);
    let mut meta = serde_json::Map::new();
    meta.insert("resourceVersion".into(), json!(list_rv.to_string()));
    if let Some(next) = &snap.next {
        meta.insert("continue".into(), json!(encode_continue(list_rv, next)));
        if filter.is_empty()
            && let Some(rem) = snap.remaining
        {
            meta.insert("remainingItemCount".into(), json!(rem));
        }
    }
    if r.table {
        let items: Vec<Value> = snap
            .items
            .iter()
            .filter_map(|so| serde_json::from_slice(&render(def, so)).ok())
            .collect();
        let t = super::tables::as_table(def, r, &items, &Value::Object(meta), false)?;
        return Ok(response::object(StatusCode::OK, &t, r.enc));
    }
    let head = json!({
        "kind": format!("{}List", def.kind),
        "apiVersion": def.api_version(),
        "metadata": meta,
    });
    let mut buf = BytesMut::with_capacity(256 + snap.items.len() * 1024);
    let head_bytes = serde_json::to_vec(&head).map_err(|e| ApiError::internal(e.to_string()))?;
    // Splice the items in as raw JSON: `{...head..., "items": [ ... ]}`.
    buf.put_slice(&head_bytes[..head_bytes.len() - 1]);
    buf.put_slice(b",\"items\":[");
    for (i, so) in snap.items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        buf.put_slice(&render(def, so));
    }
    buf.put_slice(b"]}");
    Ok(response::encoded_bytes(StatusCode::OK, buf.freeze(), r.enc))
}

/// Bytes of a list of objects (for deletecollection answers).
pub fn list_bytes(def: &ResourceDef, rv: u64, items: &[Bytes]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_slice(
        format!(
            "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{{\"resourceVersion\":\"{rv}\"}},\"items\":[",
            def.kind,
            def.api_version()
        )
        .as_bytes(),
    );
    for (i, b) in items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        buf.put_slice(b);
    }
    buf.put_slice(b"]}");
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_round_trip() {
        let key: ObjKey = ("ns".into(), "name".into());
        let t = encode_continue(42, &key);
        assert_eq!(decode_continue(&t).ok(), Some((42, key)));
        assert!(decode_continue("garbage").is_err());
    }
}
