//! `events.k8s.io/v1` Events are stored as `core/v1` Events and converted on the way in and out,
//! as upstream does, so both APIs see the same events.

use serde_json::{Map, Value, json};

use super::names::NameRule;
use crate::error::Cause;
use crate::registry::def::{Origin, Strategy};

/// Field renames between `events.k8s.io/v1` (left) and `core/v1` (right).
const RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

fn rename(obj: &Value, to_core: bool, api_version: &str) -> Value {
    let Some(o) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::new();
    for (k, v) in o {
        let key = RENAMES
            .iter()
            .find_map(|(ev, core)| {
                if to_core && k == ev {
                    Some(*core)
                } else if !to_core && k == core {
                    Some(*ev)
                } else {
                    None
                }
            })
            .unwrap_or(k.as_str());
        out.insert(key.to_string(), v.clone());
    }
    out.insert("apiVersion".into(), Value::String(api_version.to_string()));
    out.insert("kind".into(), Value::String("Event".into()));
    Value::Object(out)
}

/// An `events.k8s.io/v1` Event in its stored `core/v1` form.
pub fn to_core(event: &Value) -> Value {
    rename(event, true, "v1")
}

/// A stored `core/v1` Event as `events.k8s.io/v1`.
pub fn from_core(event: &Value) -> Value {
    rename(event, false, "events.k8s.io/v1")
}

/// The core/v1 Event strategy: names are path segments, the involved object's namespace
/// must match, events are written even while their namespace terminates, and a PUT creates.
#[derive(Debug)]
pub struct Event;

impl Strategy for Event {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
    fn validate(&self, _old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        let ns = crate::meta::namespace(new);
        let io_ns = new
            .pointer("/involvedObject/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !io_ns.is_empty() && io_ns != ns {
            return vec![Cause::invalid(
                "involvedObject.namespace",
                &json!(io_ns),
                "does not match event.namespace",
            )];
        }
        Vec::new()
    }
    fn needs_live_namespace(&self) -> bool {
        false
    }
    fn allow_create_on_update(&self) -> bool {
        true
    }
}

/// The events.k8s.io/v1 Event strategy: stored as core/v1 Events.
#[derive(Debug)]
pub struct EventV1;

impl Strategy for EventV1 {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
    fn allow_create_on_update(&self) -> bool {
        true
    }
    fn converts(&self) -> bool {
        true
    }
    fn to_served(&self, stored: Value) -> Value {
        from_core(&stored)
    }
    fn to_stored(&self, served: Value) -> Value {
        to_core(&served)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "hello", "reason": "Started",
            "reportingController": "kubelet", "reportingInstance": "n1", "eventTime": "2024-01-01T00:00:00.000000Z", "type": "Normal", "action": "Start"});
        let core = to_core(&ev);
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "hello");
        assert_eq!(core["reportingComponent"], "kubelet");
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(from_core(&core), ev);
    }
}
