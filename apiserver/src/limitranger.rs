//! LimitRange admission (upstream's `LimitRanger` plugin): a new pod's containers get the
//! default requests and limits of their namespace's LimitRanges (noted in the
//! `kubernetes.io/limit-ranger` annotation), then pods and persistent volume claims must
//! respect each range's min, max and max limit/request ratio, per container, per pod and per
//! claim, with upstream's messages. LimitRange objects are defaulted as upstream does it
//! (`default` from `max`, `defaultRequest` from `default`).

use serde_json::{Map, Value, json};

use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target};
use crate::meta;
use crate::quota::amount::{Amount, Resources, from_json};
use crate::quota::pod_usage::pod_total;
use crate::registry::ResourceDef;

const ANNOTATION: &str = "kubernetes.io/limit-ranger";

fn items(api: &Api, ns: &str) -> Vec<Value> {
    crate::storage::lookup::list_values(api, "/limitranges", Some(ns))
        .iter()
        .flat_map(|lr| {
            lr.pointer("/spec/limits")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// Admits a pod create or a claim create/update against the namespace's LimitRanges.
pub fn admit(api: &Api, def: &ResourceDef, old: Option<&Value>, obj: &mut Value) -> ApiResult<()> {
    let is_pod = def.group.is_empty() && def.resource == "pods";
    let is_claim = def.group.is_empty() && def.resource == "persistentvolumeclaims";
    if !(is_claim || (is_pod && old.is_none())) {
        return Ok(());
    }
    let ns = meta::namespace(obj).to_string();
    if api.store.keys("/limitranges", Some(&ns)).is_empty() {
        return Ok(());
    }
    let items = items(api, &ns);
    let mut errors = Vec::new();
    if is_pod {
        for item in items.iter().filter(|i| kind_of(i) == "Container") {
            apply_defaults(item, obj);
        }
        for item in &items {
            match kind_of(item) {
                "Container" => check_containers(item, obj, &mut errors),
                "Pod" => {
                    let (req, lim) = (pod_total(obj, "requests"), pod_total(obj, "limits"));
                    check(item, "Pod", &req, &lim, &mut errors);
                }
                _ => {}
            }
        }
    } else {
        // A claim's request is both what min and max are checked against, as upstream.
        let req = from_json(obj.pointer("/spec/resources/requests"));
        for item in items
            .iter()
            .filter(|i| kind_of(i) == "PersistentVolumeClaim")
        {
            check(item, "PersistentVolumeClaim", &req, &req, &mut errors);
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let message = if errors.len() == 1 {
        errors.remove(0)
    } else {
        format!("[{}]", errors.join(", "))
    };
    Err(ApiError::forbidden(
        Target {
            group: &def.group,
            resource: &def.resource,
            name: meta::name(obj),
        },
        message,
    ))
}

fn kind_of(item: &Value) -> &str {
    item.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn containers_mut(obj: &mut Value) -> Vec<&mut Value> {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in spec.iter_mut() {
        if k == "containers" || k == "initContainers" {
            out.extend(v.as_array_mut().into_iter().flatten());
        }
    }
    out
}

/// Fills missing requests/limits from the item's defaults and records what was set.
fn apply_defaults(item: &Value, pod: &mut Value) {
    let defaults = |key: &str| {
        item.get(key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (limits, requests) = (defaults("default"), defaults("defaultRequest"));
    let mut notes = Vec::new();
    for c in containers_mut(pod) {
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let res = &mut c["resources"];
        let mut set = |which: &str, from: &Map<String, Value>| {
            let mut names: Vec<String> = Vec::new();
            for (k, v) in from {
                if res.pointer(&format!("/{which}/{k}")).is_none() {
                    res[which][k] = v.clone();
                    names.push(k.clone());
                }
            }
            names
        };
        let (req_set, lim_set) = (set("requests", &requests), set("limits", &limits));
        if !req_set.is_empty() {
            notes.push(format!(
                "{} request for container {name}",
                req_set.join(", ")
            ));
        }
        if !lim_set.is_empty() {
            notes.push(format!("{} limit for container {name}", lim_set.join(", ")));
        }
    }
    if !notes.is_empty() {
        let meta = meta::meta_mut(pod);
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        ann[ANNOTATION] = json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
    }
}

fn check_containers(item: &Value, pod: &Value, errors: &mut Vec<String>) {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    for key in ["initContainers", "containers"] {
        for c in spec
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let req = from_json(c.pointer("/resources/requests"));
            let lim = from_json(c.pointer("/resources/limits"));
            check(item, "Container", &req, &lim, errors);
        }
    }
}

/// Checks one requests/limits pair against an item's min, max and ratio.
fn check(item: &Value, what: &str, req: &Resources, lim: &Resources, errors: &mut Vec<String>) {
    let bound = |key: &str| from_json(item.get(key));
    // A claim's max is checked against its request, and worded so.
    let capped = if what == "PersistentVolumeClaim" {
        "request"
    } else {
        "limit"
    };
    for (k, min) in bound("min") {
        match req.get(&k) {
            None => errors.push(format!(
                "minimum {k} usage per {what} is {}.  No request is specified",
                min.text()
            )),
            Some(r) if r.milli < min.milli => errors.push(format!(
                "minimum {k} usage per {what} is {}, but request is {}",
                min.text(),
                r.text()
            )),
            Some(_) => {}
        }
    }
    for (k, max) in bound("max") {
        match lim.get(&k) {
            None => errors.push(format!(
                "maximum {k} usage per {what} is {}.  No {capped} is specified",
                max.text()
            )),
            Some(l) if l.milli > max.milli => errors.push(format!(
                "maximum {k} usage per {what} is {}, but {capped} is {}",
                max.text(),
                l.text()
            )),
            Some(_) => {}
        }
    }
    for (k, ratio) in bound("maxLimitRequestRatio") {
        let r = ratio.text();
        match (lim.get(&k), req.get(&k)) {
            (None, _) | (Some(Amount { milli: 0, .. }), _) => errors.push(format!(
                "{k} max limit to request ratio per {what} is {r}, but no limit is specified or limit is 0"
            )),
            (_, None) | (_, Some(Amount { milli: 0, .. })) => errors.push(format!(
                "{k} max limit to request ratio per {what} is {r}, but no request is specified or request is 0"
            )),
            (Some(l), Some(q)) => {
                let actual = l.milli as f64 / q.milli as f64;
                if actual > ratio.milli as f64 / 1000.0 {
                    errors.push(format!(
                        "{k} max limit to request ratio per {what} is {r}, but provided ratio is {actual:.6}"
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_default_and_bounds_report_as_upstream() {
        let mut item = json!({"type": "Container", "max": {"cpu": "1", "memory": "1Gi"}, "default": {"cpu": "500m"}});
        crate::kinds::misc::default_limit_range_item(&mut item);
        assert_eq!(item["default"], json!({"cpu": "500m", "memory": "1Gi"}));
        assert_eq!(
            item["defaultRequest"],
            json!({"cpu": "500m", "memory": "1Gi"})
        );
        let item = json!({"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "1"}, "maxLimitRequestRatio": {"cpu": "4"}});
        let mut errors = Vec::new();
        let req = from_json(Some(&json!({"cpu": "50m"})));
        let lim = from_json(Some(&json!({"cpu": "2"})));
        check(&item, "Container", &req, &lim, &mut errors);
        assert_eq!(
            errors,
            vec![
                "minimum cpu usage per Container is 100m, but request is 50m",
                "maximum cpu usage per Container is 1, but limit is 2",
                "cpu max limit to request ratio per Container is 4, but provided ratio is 40.000000",
            ]
        );
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "p1", "image": "x"}]}});
        apply_defaults(
            &json!({"default": {"cpu": "500m", "memory": "256Mi"}, "defaultRequest": {"cpu": "500m", "memory": "256Mi"}}),
            &mut pod,
        );
        assert_eq!(
            pod["metadata"]["annotations"][ANNOTATION],
            "LimitRanger plugin set: cpu, memory request for container p1; cpu, memory limit for container p1"
        );
    }
}
