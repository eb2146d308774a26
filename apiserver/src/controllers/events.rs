//! Events the control loops record about the objects they act on, as client-go's event
//! recorder writes them (`core/v1` Events with `source.component`), through its correlator:
//! an identical event within ten minutes bumps the earlier one's `count`; after ten events
//! differing only in message for one object and reason, further ones are folded into one
//! `(combined from similar events): …` event; and each object and component may burst 25
//! events, then one per five minutes (the rest are dropped, as upstream's spam filter does).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::Api;
use crate::meta;
use crate::storage::{self, Actor};

const WINDOW: Duration = Duration::from_secs(600);
const MAX_SIMILAR: usize = 10;
const BURST: f64 = 25.0;
const REFILL: Duration = Duration::from_secs(300);
/// Remembered keys before the memory is cleared (bounds it like upstream's LRU caches).
const MAX_KEYS: usize = 4096;

/// What to write for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A new event with this message.
    Create {
        /// Final message (maybe prefixed as combined).
        message: String,
        /// Key under which later repeats are counted.
        key: String,
    },
    /// Bump the earlier event `name` to `count`.
    Update {
        /// Earlier event's name.
        name: String,
        /// New count.
        count: i64,
        /// Message (the combined event's changes).
        message: String,
    },
    /// Rate-limited: nothing is written.
    Drop,
}

#[derive(Default)]
struct State {
    similar: HashMap<String, (Instant, HashSet<String>)>,
    seen: HashMap<String, (Instant, String, i64)>,
    tokens: HashMap<String, (Instant, f64)>,
}

/// The correlator state of one server.
#[derive(Default)]
pub struct Correlator {
    state: Mutex<State>,
}

impl std::fmt::Debug for Correlator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Correlator")
    }
}

impl Correlator {
    /// Decides what one event becomes. `object` identifies the involved object and source,
    /// `reason` includes the type.
    pub fn observe(&self, object: &str, reason: &str, message: &str, now: Instant) -> Decision {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.seen.len() > MAX_KEYS || st.similar.len() > MAX_KEYS || st.tokens.len() > MAX_KEYS {
            *st = State::default();
        }
        let (at, tokens) = st.tokens.get(object).copied().unwrap_or((now, BURST));
        let refilled =
            (tokens + now.duration_since(at).as_secs_f64() / REFILL.as_secs_f64()).min(BURST);
        if refilled < 1.0 {
            st.tokens.insert(object.to_string(), (now, refilled));
            return Decision::Drop;
        }
        st.tokens.insert(object.to_string(), (now, refilled - 1.0));

        let aggregate = format!("{object}\u{0}{reason}");
        let entry = st
            .similar
            .entry(aggregate.clone())
            .or_insert_with(|| (now, HashSet::new()));
        if now.duration_since(entry.0) > WINDOW {
            *entry = (now, HashSet::new());
        }
        entry.0 = now;
        entry.1.insert(message.to_string());
        let (key, message) = if entry.1.len() > MAX_SIMILAR {
            (
                aggregate,
                format!("(combined from similar events): {message}"),
            )
        } else {
            (format!("{aggregate}\u{0}{message}"), message.to_string())
        };
        match st.seen.get(&key) {
            Some((last, name, count)) if now.duration_since(*last) <= WINDOW => {
                let (name, count) = (name.clone(), count + 1);
                st.seen.insert(key, (now, name.clone(), count));
                Decision::Update {
                    name,
                    count,
                    message,
                }
            }
            _ => Decision::Create { message, key },
        }
    }

    fn created(&self, key: String, name: String, now: Instant) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.seen.insert(key, (now, name, 1));
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_similar_ones_combined_and_bursts_limited() {
        let c = Correlator::default();
        let t0 = Instant::now();
        let first = c.observe("o", "Normal\u{0}R", "m", t0);
        let Decision::Create { key, .. } = first else {
            panic!("{first:?}")
        };
        c.created(key, "o.1".into(), t0);
        assert_eq!(
            c.observe("o", "Normal\u{0}R", "m", t0),
            Decision::Update {
                name: "o.1".into(),
                count: 2,
                message: "m".into()
            }
        );
        for i in 1..10 {
            let d = c.observe("o", "Normal\u{0}R", &format!("m{i}"), t0);
            assert!(matches!(d, Decision::Create { .. }), "{i}: {d:?}");
        }
        let combined = c.observe("o", "Normal\u{0}R", "m10", t0);
        assert!(
            matches!(&combined, Decision::Create { message, .. } if message == "(combined from similar events): m10"),
            "{combined:?}"
        );
        for _ in 0..20 {
            c.observe("p", "Normal\u{0}S", "x", t0);
        }
        let d: Vec<Decision> = (0..10)
            .map(|_| c.observe("p", "Normal\u{0}S", "x", t0))
            .collect();
        assert!(d.iter().filter(|x| **x == Decision::Drop).count() >= 5);
        assert!(!matches!(
            c.observe("p", "Normal\u{0}S", "x", t0 + REFILL * 2),
            Decision::Drop
        ));
    }
}
