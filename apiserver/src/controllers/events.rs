//! Events the control loops record about the objects they act on, as client-go's event
//! recorder writes them (`core/v1` Events with `source.component`), through its correlator:
//! an identical event within ten minutes bumps the earlier one's `count`; after ten events
//! differing only in message for one object and reason, further ones are folded into one
//! `(combined from similar events): …` event; and each object and component may burst 25
//! events, then one per five minutes (the rest are dropped, as upstream's spam filter does).

use std::time::Instant;

use serde_json::{Value, json};

use super::event_correlator::Decision;

use crate::api::Api;
use crate::meta;
use crate::storage::{self, Actor};

/// Records an event of `type_` (`Normal`/`Warning`) about `obj` (of `kind`, `api_version`)
/// from `component`. Failing to record never fails the caller: it is logged.
pub async fn record(
    api: &Api,
    component: &str,
    obj: &Value,
    (kind, api_version): (&str, &str),
    type_: &str,
    reason: &str,
    message: &str,
) {
    let Ok(def) = storage::def(api, "", "events") else {
        return;
    };
    let ns = match meta::namespace(obj) {
        "" => "default",
        n => n,
    };
    let object = format!(
        "{component}\u{0}{kind}\u{0}{ns}\u{0}{}\u{0}{}",
        meta::name(obj),
        meta::uid(obj)
    );
    let now = Instant::now();
    let ts = meta::now();
    let actor = Actor::system(component);
    let result = match api
        .events
        .observe(&object, &format!("{type_}\u{0}{reason}"), message, now)
    {
        Decision::Drop => return,
        Decision::Update {
            name,
            count,
            message,
        } => storage::update(api, &def, &actor, ns, &name, None, |e| {
            e["count"] = json!(count);
            e["lastTimestamp"] = json!(ts);
            e["message"] = json!(message);
            true
        })
        .await
        .map(|_| ()),
        Decision::Create { message, key } => {
            let nanos = jiff::Timestamp::now().as_nanosecond();
            let name = format!("{}.{nanos:x}", meta::name(obj));
            let event = json!({
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": {
                    "kind": kind,
                    "namespace": meta::namespace(obj),
                    "name": meta::name(obj),
                    "uid": meta::uid(obj),
                    "apiVersion": api_version,
                    "resourceVersion": meta::resource_version(obj).unwrap_or_default(),
                },
                "reason": reason,
                "message": message,
                "source": {"component": component},
                "firstTimestamp": ts,
                "lastTimestamp": ts,
                "count": 1,
                "type": type_,
                "reportingComponent": component,
                "reportingInstance": "",
            });
            let created = storage::create(api, &def, &actor, event).await;
            if created.is_ok() {
                api.events.created(key, name, now);
            }
            created.map(|_| ())
        }
    };
    if let Err(e) = result {
        tracing::debug!(component, reason, error = %e, "event not recorded");
    }
}

/// Records the outcome of a controller creating a pod (or job) for `owner`: `SuccessfulCreate`
/// with `created(name)`, or `FailedCreate` with `Error creating: …`, as upstream's loops do.
pub async fn creation(
    api: &Api,
    component: &str,
    owner: &Value,
    kind: (&str, &str),
    result: &Result<Value, crate::error::ApiError>,
    created: impl Fn(&str) -> String,
) {
    match result {
        Ok(obj) => {
            let msg = created(meta::name(obj));
            record(
                api,
                component,
                owner,
                kind,
                "Normal",
                "SuccessfulCreate",
                &msg,
            )
            .await;
        }
        Err(e) => {
            let msg = format!("Error creating: {}", e.message);
            record(api, component, owner, kind, "Warning", "FailedCreate", &msg).await;
        }
    }
}
