//! Pod admission on create: the service account and its token volume, priority, default
//! tolerations and the QoS class.

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult, Target};
use crate::registry::def::Ctx;

/// Where the service-account volume is mounted.
pub const SA_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Admission on create: service account and its token volume, priority, default tolerations,
/// QoS class.
pub fn admit_create(ctx: &Ctx<'_>, pod: &mut Value) -> ApiResult<()> {
    let ns = crate::meta::namespace(pod).to_string();
    let name = crate::meta::name(pod).to_string();
    let forbidden = |msg: String| {
        ApiError::forbidden(
            Target {
                group: "",
                resource: "pods",
                name: &name,
            },
            msg,
        )
    };
    let spec = pod
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ApiError::bad_request("pod has no spec"))?;
    let sa_name = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            spec.get("serviceAccount")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or("default")
        .to_string();
    spec.insert("serviceAccountName".into(), json!(sa_name));
    spec.insert("serviceAccount".into(), json!(sa_name));
    let sa = ctx.store.get("/serviceaccounts", &ns, &sa_name);
    let sa = match sa {
        // Parse the account only when it says something about automounting.
        Some(sa) if contains(&sa.json, b"automountServiceAccountToken") => sa.value().ok(),
        Some(_) => None,
        None => {
            return Err(forbidden(format!(
                "error looking up service account {ns}/{sa_name}: serviceaccount {sa_name:?} not found"
            )));
        }
    };
    let automount = spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            sa.as_ref()
                .and_then(|s| s.get("automountServiceAccountToken"))
                .and_then(Value::as_bool)
        })
        .unwrap_or(true);
    if automount {
        add_token_volume(spec);
    }
    admit_priority(ctx, spec).map_err(forbidden)?;
    add_default_tolerations(spec);
    let qos = qos_class(&Value::Object(spec.clone()));
    if let Some(status) = pod.get_mut("status").and_then(Value::as_object_mut) {
        status.insert("qosClass".into(), json!(qos));
    }
    Ok(())
}

fn add_token_volume(spec: &mut Map<String, Value>) {
    let mounted = |c: &Value| {
        c.get("volumeMounts")
            .and_then(Value::as_array)
            .is_some_and(|ms| {
                ms.iter()
                    .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(SA_MOUNT_PATH))
            })
    };
    let all_mounted = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .all(mounted);
    if all_mounted {
        return;
    }
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .find(|n| n.starts_with("kube-api-access-"))
                .map(str::to_string)
        });
    let vol_name = existing
        .clone()
        .unwrap_or_else(|| format!("kube-api-access-{}", random_suffix()));
    if existing.is_none() {
        let vols = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(a) = vols.as_array_mut() {
            a.push(json!({
                "name": vol_name,
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                    ]
                }
            }));
        }
    }
    for key in ["containers", "initContainers"] {
        let Some(Value::Array(cs)) = spec.get_mut(key) else {
            continue;
        };
        for c in cs.iter_mut() {
            if mounted(c) {
                continue;
            }
            if let Some(o) = c.as_object_mut() {
                let mounts = o.entry("volumeMounts").or_insert_with(|| json!([]));
                if let Some(a) = mounts.as_array_mut() {
                    a.push(json!({"name": vol_name, "readOnly": true, "mountPath": SA_MOUNT_PATH}));
                }
            }
        }
    }
}

fn admit_priority(ctx: &Ctx<'_>, spec: &mut Map<String, Value>) -> Result<(), String> {
    let class = spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (priority, policy) = if class.is_empty() {
        let default = ctx
            .store
            .list(
                "scheduling.k8s.io/priorityclasses",
                None,
                None,
                None,
                |_, o| contains(&o.json, b"\"globalDefault\":true"),
            )
            .items
            .iter()
            .filter_map(|o| o.value().ok())
            .find(|pc| pc.get("globalDefault").and_then(Value::as_bool) == Some(true));
        match default {
            Some(pc) => {
                spec.insert(
                    "priorityClassName".into(),
                    pc.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
                );
                (
                    pc.get("value").and_then(Value::as_i64).unwrap_or(0),
                    pc.get("preemptionPolicy").cloned(),
                )
            }
            None => (0, None),
        }
    } else {
        let pc = ctx
            .store
            .get("scheduling.k8s.io/priorityclasses", "", &class)
            .and_then(|o| o.value().ok())
            .ok_or_else(|| format!("no PriorityClass with name {class} was found"))?;
        (
            pc.get("value").and_then(Value::as_i64).unwrap_or(0),
            pc.get("preemptionPolicy").cloned(),
        )
    };
    if let Some(p) = spec.get("priority").and_then(Value::as_i64)
        && p != priority
    {
        return Err("the integer value of priority must not be provided in pod spec; priority admission controller computed the value from the given PriorityClass name".to_string());
    }
    spec.insert("priority".into(), json!(priority));
    spec.entry("preemptionPolicy")
        .or_insert_with(|| policy.unwrap_or_else(|| json!("PreemptLowerPriority")));
    Ok(())
}

fn add_default_tolerations(spec: &mut Map<String, Value>) {
    let tols = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(a) = tols.as_array_mut() else { return };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let has = a.iter().any(|t| {
            let k = t.get("key").and_then(Value::as_str);
            let eff = t.get("effect").and_then(Value::as_str).unwrap_or_default();
            let op = t.get("operator").and_then(Value::as_str).unwrap_or("Equal");
            (k == Some(key) || (k.is_none() && op == "Exists"))
                && (eff.is_empty() || eff == "NoExecute")
        });
        if !has {
            a.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

/// Upstream's QoS class of a pod spec.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        let relevant = |m: Option<&Map<String, Value>>| {
            m.map(|m| m.keys().filter(|k| *k == "cpu" || *k == "memory").count())
                .unwrap_or(0)
        };
        if relevant(req) > 0 || relevant(lim) > 0 {
            any = true;
        }
        for r in ["cpu", "memory"] {
            let l = lim.and_then(|m| m.get(r));
            let q = req.and_then(|m| m.get(r));
            if l.is_none() || (q.is_some() && q != l) {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Five characters as upstream's name generator uses.
pub fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Byte substring test used as a cheap pre-filter before parsing.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos() {
        assert_eq!(
            qos_class(&json!({"containers": [{"name": "c"}]})),
            "BestEffort"
        );
        assert_eq!(
            qos_class(
                &json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}]})
            ),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})),
            "Burstable"
        );
    }
}
