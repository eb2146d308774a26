//! Measuring what a quota's namespace uses (the quota controller's `CalculateUsage`), and the
//! status a quota should report.

use std::sync::Arc;

use serde_json::{Value, json};

use super::amount::{Amount, Resources, add, from_json, mask, to_json};
use super::scopes::{ScopeRequirement, requirements, selects};
use super::usage::{Evaluator, counted_resource};
use crate::api::Api;
use crate::meta;
use crate::registry::ResourceDef;

/// The resource names a quota limits (`spec.hard` keys, in order).
pub fn hard_names(quota: &Value, at: &str) -> Vec<String> {
    quota
        .pointer(at)
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The evaluators that answer for some of `names`, each with the resource it reads.
fn evaluators_for(api: &Api, names: &[String]) -> Vec<(Evaluator, Arc<ResourceDef>)> {
    let mut out: Vec<(Evaluator, Arc<ResourceDef>)> = Vec::new();
    let mut add_one = |group: &str, resource: &str| {
        let ev = Evaluator::of(group, resource);
        if ev.matching(names).is_empty() || out.iter().any(|(e, _)| *e == ev) {
            return;
        }
        if let Ok(def) = crate::storage::lookup::def(api, group, resource)
            && def.namespaced
        {
            out.push((ev, def));
        }
    };
    for (group, resource) in [
        ("", "pods"),
        ("", "services"),
        ("", "persistentvolumeclaims"),
    ] {
        add_one(group, resource);
    }
    for name in names {
        if let Some((group, resource)) = counted_resource(name) {
            add_one(&group, &resource);
        }
    }
    out
}

/// What the objects in `ns` use of `names`, under the scope requirements: every tracked name
/// is present, zero when nothing uses it.
pub fn usage_in(api: &Api, ns: &str, names: &[String], reqs: &[ScopeRequirement]) -> Resources {
    let mut used = Resources::new();
    for (ev, def) in evaluators_for(api, names) {
        let tracked = ev.matching(names);
        for n in &tracked {
            used.entry(n.clone()).or_insert(Amount::count(0));
        }
        let objects = api
            .store
            .list(&def.storage, Some(ns), None, None, |_, _| true)
            .items;
        for so in objects {
            let Ok(obj) = so.value() else { continue };
            if selects(&ev, reqs, &obj) {
                used = add(&used, &mask(&ev.usage(&obj), &tracked));
            }
        }
    }
    used
}

/// The status a quota should have now: `hard` from its spec, `used` measured (names no
/// evaluator tracks keep their previous figure).
pub fn status_of(api: &Api, quota: &Value) -> Value {
    let names = hard_names(quota, "/spec/hard");
    let measured = usage_in(api, meta::namespace(quota), &names, &requirements(quota));
    let previous = from_json(quota.pointer("/status/used"));
    let mut used = mask(&previous, &names);
    used.extend(measured);
    json!({
        "hard": to_json(&from_json(quota.pointer("/spec/hard"))),
        "used": to_json(&used),
    })
}

/// Whether a quota's status is stale in a way the controller must fix at once: a new or
/// changed `spec.hard`, or `used` not covering every limited name.
pub fn needs_measuring(quota: &Value) -> bool {
    let spec = from_json(quota.pointer("/spec/hard"));
    let hard = from_json(quota.pointer("/status/hard"));
    if spec.len() != hard.len()
        || spec
            .iter()
            .any(|(k, v)| hard.get(k).map(|h| h.milli) != Some(v.milli))
    {
        return true;
    }
    let used = hard_names(quota, "/status/used");
    spec.keys().any(|k| !used.contains(k))
}
