//! watch: initial state, resumption from a resourceVersion, selector transitions, bookmarks,
//! 410 once the history no longer reaches back, timeouts.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::filter::Filter;
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Cause};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::registry::ResourceDef;
use crate::storage::render;
use crate::store::{Event, EventType, StoredObject};

/// How often an idle watch with bookmarks enabled gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);
/// Events fetched per wake-up.
const BATCH: usize = 512;

/// What a watcher was asked for.
struct Watcher {
    api: Arc<Api>,
    def: Arc<ResourceDef>,
    filter: Filter,
    namespace: Option<String>,
    name: Option<String>,
    bookmarks: bool,
    /// Table output (kubectl get --watch): the convertor, what to include, headers sent yet.
    table: Option<(
        crate::table::TableConvertor,
        crate::table::IncludeObject,
        std::sync::atomic::AtomicBool,
    )>,
}

impl Watcher {
    fn selects(&self, ns: &str, name: &str, so: &StoredObject) -> bool {
        if self.namespace.as_deref().is_some_and(|n| n != ns) {
            return false;
        }
        if self.name.as_deref().is_some_and(|n| n != name) {
            return false;
        }
        self.filter.matches(&self.def, ns, name, so)
    }

    /// The event this watcher sees for a change, after selector transitions.
    fn translate(&self, ev: &Event) -> Option<(&'static str, Bytes)> {
        let now = self.selects(&ev.namespace, &ev.name, &ev.object);
        let kind = match ev.kind {
            EventType::Added => now.then_some("ADDED"),
            EventType::Deleted => now.then_some("DELETED"),
            EventType::Modified => {
                let before = ev
                    .prev
                    .as_ref()
                    .is_some_and(|p| self.selects(&ev.namespace, &ev.name, p));
                match (before, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
        }?;
        Some((kind, self.encode(render(&self.def, &ev.object))))
    }

    /// The object as sent: itself, or a one-row Table (headers only in the first).
    fn encode(&self, obj: Bytes) -> Bytes {
        let Some((conv, include, sent_headers)) = &self.table else {
            return obj;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&obj) else {
            return obj;
        };
        let no_headers = sent_headers.swap(true, std::sync::atomic::Ordering::Relaxed);
        let rv = v
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(json!(""));
        let t = conv.to_table(
            &[v],
            &json!({"resourceVersion": rv}),
            *include,
            no_headers,
            jiff::Timestamp::now(),
        );
        Bytes::from(t.to_string())
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj =
            json!({"kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": meta});
        frame("BOOKMARK", &Bytes::from(obj.to_string()))
    }
}

/// One newline-terminated watch event.
fn frame(kind: &str, object: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(object.len() + 32);
    b.put_slice(b"{\"type\":\"");
    b.put_slice(kind.as_bytes());
    b.put_slice(b"\",\"object\":");
    b.put_slice(object);
    b.put_slice(b"}\n");
    b.freeze()
}

fn error_frame(e: &ApiError) -> Bytes {
    frame("ERROR", e.to_status().to_string().as_bytes())
}

/// Starting point of a watch.
enum Start {
    /// Send the current state first, then changes after this snapshot.
    Snapshot,
    /// Changes after this resourceVersion.
    From(u64),
}

/// Serves a watch request.
pub async fn watch(api: Arc<Api>, def: Arc<ResourceDef>, r: &mut Req) -> ApiResult<Response<Body>> {
    let filter = Filter::from_req(&def, r)?;
    let send_initial = match r.q("sendInitialEvents") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let rv_param = r
        .q("resourceVersion")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let bookmarks = r.flag("allowWatchBookmarks");
    if send_initial.is_some() {
        let mut causes = Vec::new();
        if r.q("resourceVersionMatch") != Some("NotOlderThan") {
            causes.push(Cause::forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if send_initial == Some(true) && !bookmarks {
            causes.push(Cause::forbidden(
                "allowWatchBookmarks",
                "allowWatchBookmarks must be set to true when sendInitialEvents is true",
            ));
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid("ListOptions", "meta.k8s.io", "", causes));
        }
    } else if r.q("resourceVersionMatch").is_some_and(|m| !m.is_empty()) {
        return Err(ApiError::bad_request(
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ));
    }
    let start = match (&rv_param, send_initial) {
        (_, Some(true)) => Start::Snapshot,
        (None, _) => Start::Snapshot,
        (Some(v), _) if v == "0" => Start::Snapshot,
        (Some(v), _) => Start::From(
            v.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {v:?}")))?,
        ),
    };
    if let (Start::From(rv), Some(false)) = (&start, send_initial) {
        super::read::wait_for_rv(&api, *rv).await?;
    }
    let timeout = r
        .q("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map(Duration::from_secs)
        .unwrap_or_else(|| Duration::from_secs(1800 + rand::random::<u64>() % 1800));
    let table = if r.table {
        let include = crate::table::IncludeObject::from_query(r.q("includeObject"))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Some((
            super::tables::table_convertor(&def)?,
            include,
            std::sync::atomic::AtomicBool::new(false),
        ))
    } else {
        None
    };
    let watcher = Watcher {
        table,
        api: api.clone(),
        name: r.info.name.clone(),
        namespace: r.info.namespace.clone(),
        def,
        filter,
        bookmarks,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    api.metrics.watchers.inc();
    let initial_end_bookmark = send_initial == Some(true);
    tokio::spawn(async move {
        run(watcher, start, initial_end_bookmark, timeout, tx).await;
    });
    Ok(response::stream(rx, "application/json"))
}

async fn run(
    w: Watcher,
    start: Start,
    initial_end: bool,
    timeout: Duration,
    tx: mpsc::Sender<Bytes>,
) {
    let api = w.api.clone();
    let deadline = tokio::time::Instant::now() + timeout;
    let notify = api.store.notifier(&w.def.storage);
    let mut durable = api.store.durable();
    let shutdown = api.shutdown.clone();
    let mut cursor = match start {
        Start::From(rv) => rv,
        Start::Snapshot => {
            let snap = api.store.list(
                &w.def.storage,
                w.namespace.as_deref(),
                None,
                None,
                |k, o| w.selects(&k.0, &k.1, o),
            );
            for so in &snap.items {
                if tx
                    .send(frame("ADDED", &w.encode(render(&w.def, so))))
                    .await
                    .is_err()
                {
                    api.metrics.watchers.dec();
                    return;
                }
            }
            if initial_end && tx.send(w.bookmark(snap.rv, true)).await.is_err() {
                api.metrics.watchers.dec();
                return;
            }
            snap.rv
        }
    };
    let mut last_bookmark = tokio::time::Instant::now();
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let upto = durable.borrow().rv;
        match api.store.events_since(&w.def.storage, cursor, upto, BATCH) {
            Err(horizon) => {
                let e =
                    ApiError::expired(format!("too old resource version: {cursor} ({horizon})"));
                let _ = tx.send(error_frame(&e)).await;
                break;
            }
            Ok(events) if !events.is_empty() => {
                let full = events.len() == BATCH;
                // One write per batch: many small frames cost a syscall and a TLS record each.
                let mut batch = BytesMut::new();
                for ev in &events {
                    cursor = ev.rv();
                    if let Some((kind, obj)) = w.translate(ev) {
                        batch.put_slice(&frame(kind, &obj));
                    }
                }
                if !batch.is_empty() && tx.send(batch.freeze()).await.is_err() {
                    break;
                }
                if !full {
                    cursor = cursor.max(upto);
                }
                continue;
            }
            Ok(_) => cursor = cursor.max(upto),
        }
        if w.bookmarks && last_bookmark.elapsed() >= BOOKMARK_EVERY {
            if tx.send(w.bookmark(cursor, false)).await.is_err() {
                break;
            }
            last_bookmark = tokio::time::Instant::now();
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = durable.changed() => {}
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tokio::time::sleep(BOOKMARK_EVERY) => {}
            _ = tx.closed() => break,
            _ = shutdown.cancelled() => break,
        }
    }
    api.metrics.watchers.dec();
}

/// The JSON `object` of a watch frame, for tests.
pub fn parse_frame(line: &[u8]) -> Option<(String, Value)> {
    let v: Value = serde_json::from_slice(line).ok()?;
    Some((
        v.get("type")?.as_str()?.to_string(),
        v.get("object")?.clone(),
    ))
}
