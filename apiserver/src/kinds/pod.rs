//! Pods: defaults, validation (including upstream's update restrictions) and admission
//! (service account token volume, priority, default tolerations, initial status).

use serde_json::{Map, Value, json};

use super::Ctx;
use super::names::{is_dns_label, label_message};
use crate::error::{ApiError, ApiResult, Cause, Target};

/// Where the service-account volume is mounted.
pub const SA_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Pod defaults (upstream `SetDefaults_Pod`, `SetDefaults_PodSpec`, `SetDefaults_Container`).
pub fn defaults(pod: &mut Value) {
    if let Some(spec) = pod.get_mut("spec") {
        pod_spec_defaults(spec);
    }
    let Some(obj) = pod.as_object_mut() else {
        return;
    };
    let status = obj.entry("status").or_insert_with(|| json!({}));
    if let Some(s) = status.as_object_mut() {
        s.entry("phase").or_insert_with(|| json!("Pending"));
    }
}

/// Defaults of a pod spec (also applied to workload templates).
pub fn pod_spec_defaults(spec: &mut Value) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    s.entry("restartPolicy").or_insert_with(|| json!("Always"));
    s.entry("dnsPolicy")
        .or_insert_with(|| json!("ClusterFirst"));
    s.entry("terminationGracePeriodSeconds")
        .or_insert_with(|| json!(30));
    s.entry("schedulerName")
        .or_insert_with(|| json!("default-scheduler"));
    s.entry("securityContext").or_insert_with(|| json!({}));
    s.entry("enableServiceLinks").or_insert_with(|| json!(true));
    let host_network = s.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    for key in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = s.get_mut(key) {
            for c in cs.iter_mut() {
                container_defaults(c, host_network);
            }
        }
    }
    if let Some(Value::Array(vols)) = s.get_mut("volumes") {
        for v in vols.iter_mut() {
            volume_defaults(v);
        }
    }
}

fn container_defaults(c: &mut Value, host_network: bool) {
    let Some(o) = c.as_object_mut() else { return };
    o.entry("terminationMessagePath")
        .or_insert_with(|| json!("/dev/termination-log"));
    o.entry("terminationMessagePolicy")
        .or_insert_with(|| json!("File"));
    if !o.contains_key("imagePullPolicy") {
        let image = o.get("image").and_then(Value::as_str).unwrap_or_default();
        o.insert("imagePullPolicy".into(), json!(pull_policy_for(image)));
    }
    let resources = o.entry("resources").or_insert_with(|| json!({}));
    if let Some(r) = resources.as_object_mut()
        && let Some(limits) = r.get("limits").and_then(Value::as_object).cloned()
    {
        let requests = r.entry("requests").or_insert_with(|| json!({}));
        if let Some(req) = requests.as_object_mut() {
            for (k, v) in limits {
                req.entry(k).or_insert(v);
            }
        }
    }
    if let Some(Value::Array(ports)) = o.get_mut("ports") {
        for p in ports.iter_mut() {
            if let Some(po) = p.as_object_mut() {
                po.entry("protocol").or_insert_with(|| json!("TCP"));
                if host_network && !po.contains_key("hostPort") {
                    let cp = po.get("containerPort").cloned().unwrap_or(json!(0));
                    po.insert("hostPort".into(), cp);
                }
            }
        }
    }
    if let Some(Value::Array(env)) = o.get_mut("env") {
        for e in env.iter_mut() {
            if let Some(fr) = e
                .pointer_mut("/valueFrom/fieldRef")
                .and_then(Value::as_object_mut)
            {
                fr.entry("apiVersion").or_insert_with(|| json!("v1"));
            }
        }
    }
}

fn pull_policy_for(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn volume_defaults(v: &mut Value) {
    let Some(o) = v.as_object_mut() else { return };
    for (key, mode_field) in [
        ("secret", "defaultMode"),
        ("configMap", "defaultMode"),
        ("projected", "defaultMode"),
        ("downwardAPI", "defaultMode"),
    ] {
        if let Some(src) = o.get_mut(key).and_then(Value::as_object_mut) {
            src.entry(mode_field).or_insert_with(|| json!(420));
        }
    }
    if let Some(hp) = o.get_mut("hostPath").and_then(Value::as_object_mut) {
        hp.entry("type").or_insert_with(|| json!(""));
    }
}

/// Pod validation, including upstream's restrictions on updates.
pub fn validate(old: Option<&Value>, new: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    validate_spec(
        new.get("spec").unwrap_or(&Value::Null),
        "spec",
        &[],
        &mut out,
    );
    if let Some(old) = old {
        validate_update(old, new, &mut out);
    }
    out
}

/// Validation of a pod spec at `path` (also used for templates).
/// `extra_volumes` are volumes supplied from outside the spec (StatefulSet claim templates).
pub fn validate_spec(spec: &Value, path: &str, extra_volumes: &[String], out: &mut Vec<Cause>) {
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        None => out.push(Cause::required(&format!("{path}.containers"), "")),
        Some(cs) if cs.is_empty() => out.push(Cause::required(&format!("{path}.containers"), "")),
        Some(_) => {}
    }
    let volumes: Vec<String> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut seen_vol = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        if seen_vol.contains(v) {
            out.push(Cause::duplicate(
                &format!("{path}.volumes[{i}].name"),
                &json!(v),
            ));
        }
        seen_vol.push(v.clone());
    }
    let volumes: Vec<String> = volumes
        .into_iter()
        .chain(extra_volumes.iter().cloned())
        .collect();
    let mut names: Vec<String> = Vec::new();
    for key in ["initContainers", "containers"] {
        let Some(cs) = spec.get(key).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in cs.iter().enumerate() {
            let p = format!("{path}.{key}[{i}]");
            validate_container(c, &p, &volumes, &mut names, out);
        }
    }
    if let Some(rp) = spec.get("restartPolicy").and_then(Value::as_str)
        && !["Always", "OnFailure", "Never"].contains(&rp)
    {
        out.push(Cause::not_supported(
            &format!("{path}.restartPolicy"),
            rp,
            &["Always", "OnFailure", "Never"],
        ));
    }
    if let Some(dp) = spec.get("dnsPolicy").and_then(Value::as_str)
        && !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].contains(&dp)
    {
        out.push(Cause::not_supported(
            &format!("{path}.dnsPolicy"),
            dp,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        ));
    }
    if let Some(g) = spec
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        && g < 0
    {
        out.push(Cause::invalid(
            &format!("{path}.terminationGracePeriodSeconds"),
            &json!(g),
            "must be greater than or equal to 0",
        ));
    }
}

fn validate_container(
    c: &Value,
    p: &str,
    volumes: &[String],
    names: &mut Vec<String>,
    out: &mut Vec<Cause>,
) {
    let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        out.push(Cause::required(&format!("{p}.name"), ""));
    } else if !is_dns_label(name) {
        out.push(Cause::invalid(
            &format!("{p}.name"),
            &json!(name),
            label_message(),
        ));
    } else if names.iter().any(|n| n == name) {
        out.push(Cause::duplicate(&format!("{p}.name"), &json!(name)));
    } else {
        names.push(name.to_string());
    }
    if c.get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        out.push(Cause::required(&format!("{p}.image"), ""));
    }
    if let Some(ports) = c.get("ports").and_then(Value::as_array) {
        for (j, port) in ports.iter().enumerate() {
            let cp = port
                .get("containerPort")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let field = format!("{p}.ports[{j}].containerPort");
            if cp == 0 {
                out.push(Cause::required(&field, ""));
            } else if !(1..=65535).contains(&cp) {
                out.push(Cause::invalid(
                    &field,
                    &json!(cp),
                    "must be between 1 and 65535, inclusive",
                ));
            }
            if let Some(proto) = port.get("protocol").and_then(Value::as_str)
                && !["TCP", "UDP", "SCTP"].contains(&proto)
            {
                out.push(Cause::not_supported(
                    &format!("{p}.ports[{j}].protocol"),
                    proto,
                    &["SCTP", "TCP", "UDP"],
                ));
            }
        }
    }
    if let Some(mounts) = c.get("volumeMounts").and_then(Value::as_array) {
        for (j, m) in mounts.iter().enumerate() {
            let vn = m.get("name").and_then(Value::as_str).unwrap_or_default();
            if !volumes.iter().any(|v| v == vn) {
                out.push(Cause::new(
                    "FieldValueNotFound",
                    &format!("{p}.volumeMounts[{j}].name"),
                    format!("Not found: {vn:?}"),
                ));
            }
            if m.get("mountPath")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .is_empty()
            {
                out.push(Cause::required(
                    &format!("{p}.volumeMounts[{j}].mountPath"),
                    "",
                ));
            }
        }
    }
    validate_resources(c.get("resources"), &format!("{p}.resources"), out);
}

fn validate_resources(r: Option<&Value>, p: &str, out: &mut Vec<Cause>) {
    let Some(r) = r else { return };
    let get = |k: &str| {
        r.get(k)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (limits, requests) = (get("limits"), get("requests"));
    for (kind, m) in [("limits", &limits), ("requests", &requests)] {
        for (res, q) in m {
            let text = q
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| q.to_string());
            match crds::quantity::parse_milli(&text) {
                Ok(v) if v < 0 => out.push(Cause::invalid(
                    &format!("{p}.{kind}[{res}]"),
                    &json!(text),
                    "must be greater than or equal to 0",
                )),
                Ok(_) => {}
                Err(_) => out.push(Cause::invalid(
                    &format!("{p}.{kind}[{res}]"),
                    &json!(text),
                    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                )),
            }
        }
    }
    for (res, req) in &requests {
        let Some(lim) = limits.get(res) else { continue };
        let (rq, lq) = (
            req.as_str().unwrap_or_default(),
            lim.as_str().unwrap_or_default(),
        );
        if let (Ok(a), Ok(b)) = (
            crds::quantity::parse_milli(rq),
            crds::quantity::parse_milli(lq),
        ) && a > b
        {
            out.push(Cause::invalid(
                &format!("{p}.requests"),
                &json!(rq),
                &format!("must be less than or equal to {res} limit of {lq}"),
            ));
        }
    }
}

const UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn validate_update(old: &Value, new: &Value, out: &mut Vec<Cause>) {
    let null = Value::Null;
    let old_spec = old.get("spec").unwrap_or(&null);
    let new_spec = new.get("spec").unwrap_or(&null);
    if old_spec == new_spec {
        return;
    }
    // Start from the old spec, take the mutable fields from the new one, and compare.
    let mut allowed = old_spec.clone();
    for key in ["containers", "initContainers"] {
        let (Some(Value::Array(a)), Some(Value::Array(b))) =
            (allowed.get_mut(key), new_spec.get(key))
        else {
            continue;
        };
        if a.len() == b.len() {
            for (ac, bc) in a.iter_mut().zip(b) {
                if let (Some(ao), Some(img)) = (ac.as_object_mut(), bc.get("image")) {
                    ao.insert("image".into(), img.clone());
                }
            }
        }
    }
    if let Some(o) = allowed.as_object_mut() {
        for key in [
            "activeDeadlineSeconds",
            "terminationGracePeriodSeconds",
            "schedulingGates",
        ] {
            match new_spec.get(key) {
                Some(v) => o.insert(key.into(), v.clone()),
                None => o.remove(key),
            };
        }
        let old_tol = old_spec
            .get("tolerations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let new_tol = new_spec
            .get("tolerations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if old_tol.iter().all(|t| new_tol.contains(t)) {
            match new_spec.get("tolerations") {
                Some(v) => o.insert("tolerations".into(), v.clone()),
                None => o.remove("tolerations"),
            };
        }
    }
    if &allowed != new_spec {
        out.push(Cause::forbidden("spec", UPDATE_FORBIDDEN));
    }
}

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
    let sa = ctx.api.store.get("/serviceaccounts", &ns, &sa_name);
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
            .api
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
            .api
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
    fn defaults_like_kubectl_run() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        defaults(&mut pod);
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["status"]["phase"], "Pending");
        assert_eq!(pull_policy_for("nginx:1.25"), "IfNotPresent");
        assert_eq!(pull_policy_for("registry:5000/nginx"), "Always");
    }

    #[test]
    fn update_restrictions() {
        let old = json!({"spec": {"containers": [{"name": "c", "image": "a"}], "restartPolicy": "Always"}});
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("b");
        assert!(validate(Some(&old), &new).is_empty());
        new["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(validate(Some(&old), &new).len(), 1);
    }

    #[test]
    fn validation_messages() {
        let bad = json!({"spec": {"containers": [{"name": "Bad_Name"}, {"name": "x", "image": "i", "ports": [{"containerPort": 70000}]}]}});
        let causes = validate(None, &bad);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert!(fields.contains(&"spec.containers[0].name"));
        assert!(fields.contains(&"spec.containers[0].image"));
        assert!(fields.contains(&"spec.containers[1].ports[0].containerPort"));
    }

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
