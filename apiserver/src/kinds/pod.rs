//! Pods: defaults, validation (including upstream's update restrictions) and admission
//! (service account token volume, priority, default tolerations, initial status).

use serde_json::{Value, json};

use super::names::{is_dns_label, label_message};
use crate::error::{ApiResult, Cause};
use crate::registry::def::{Ctx, Origin, Strategy};

/// Pod defaults (upstream `SetDefaults_Pod`, `SetDefaults_PodSpec`, `SetDefaults_Container`).
pub fn defaults(pod: &mut Value) {
    if let Some(spec) = pod.get_mut("spec") {
        pod_spec_defaults(spec);
        pod_only_defaults(spec);
    }
    let Some(obj) = pod.as_object_mut() else {
        return;
    };
    let status = obj.entry("status").or_insert_with(|| json!({}));
    if let Some(s) = status.as_object_mut() {
        s.entry("phase").or_insert_with(|| json!("Pending"));
    }
}

/// Defaults upstream gives pods but not pod templates (`SetDefaults_Pod`): service links on,
/// and a container's requests copied from its limits where it sets none.
fn pod_only_defaults(spec: &mut Value) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    s.entry("enableServiceLinks").or_insert_with(|| json!(true));
    for key in ["containers", "initContainers"] {
        for c in s
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(r) = c.get_mut("resources").and_then(Value::as_object_mut) else {
                continue;
            };
            let Some(limits) = r.get("limits").and_then(Value::as_object).cloned() else {
                continue;
            };
            let requests = r.entry("requests").or_insert_with(|| json!({}));
            if let Some(req) = requests.as_object_mut() {
                for (k, v) in limits {
                    req.entry(k).or_insert(v);
                }
            }
        }
    }
}

/// Defaults of a pod spec (`SetDefaults_PodSpec` and the container defaults), also applied to
/// workload templates.
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
    let host_network = s.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    for key in ["containers", "initContainers", "ephemeralContainers"] {
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
    o.entry("resources").or_insert_with(|| json!({}));
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
    match old {
        Some(old) => validate_update(old, new, &mut out),
        None => super::pod_ephemeral::validate_create(new, &mut out),
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
    validate_proc_mounts(spec, path, out);
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

/// `securityContext.procMount` of every container: `Default` or `Unmasked`, and `Unmasked`
/// only in a user namespace (`hostUsers: false`), which is what keeps an unmasked /proc from
/// exposing the host's.
fn validate_proc_mounts(spec: &Value, path: &str, out: &mut Vec<Cause>) {
    let host_users = spec.get("hostUsers").and_then(Value::as_bool) != Some(false);
    for key in ["initContainers", "containers", "ephemeralContainers"] {
        for (i, c) in spec
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(mount) = c
                .pointer("/securityContext/procMount")
                .and_then(Value::as_str)
            else {
                continue;
            };
            let field = format!("{path}.{key}[{i}].securityContext.procMount");
            if !["Default", "Unmasked"].contains(&mount) {
                out.push(Cause::not_supported(
                    &field,
                    mount,
                    &["Default", "Unmasked"],
                ));
            } else if mount == "Unmasked" && host_users {
                out.push(Cause::invalid(
                    &field,
                    &json!(mount),
                    "`hostUsers` must be false to use `Unmasked`",
                ));
            }
        }
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
}

/// The Pod strategy.
#[derive(Debug)]
pub struct Pod;

impl Strategy for Pod {
    fn defaults(&self, obj: &mut Value) {
        defaults(obj);
    }
    fn validate(&self, old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        validate(old, new)
    }
    fn validate_subresource_update(
        &self,
        sub: &str,
        old: &Value,
        new: &Value,
        origin: Origin,
    ) -> Vec<Cause> {
        match sub {
            "ephemeralcontainers" => super::pod_ephemeral::validate_update(old, new),
            _ => self.validate(Some(old), new, origin),
        }
    }
    fn admit_create(&self, ctx: &Ctx<'_>, obj: &mut Value) -> ApiResult<()> {
        super::pod_admission::admit_create(ctx, obj)
    }
    fn returns_deleted_object(&self) -> bool {
        true
    }
    /// Pods bound to a node and still running get their grace period.
    fn grace_period(&self, obj: &Value, requested: Option<i64>) -> i64 {
        let bound = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let phase = obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !bound || phase == "Succeeded" || phase == "Failed" {
            return 0;
        }
        requested.unwrap_or_else(|| {
            obj.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(30)
        })
    }
}
