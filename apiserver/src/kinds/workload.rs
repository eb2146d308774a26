//! Workloads (apps/v1, batch/v1, ReplicationController): defaults and validation.

use serde_json::{Value, json};

use super::pod;
use crate::error::Cause;
use crate::registry::def::{Origin, Strategy};
use crate::selectors::LabelSelector;

/// Workload defaults (upstream `SetDefaults_Deployment` etc.), including the pod template's.
pub fn defaults(kind: &str, obj: &mut Value) {
    if kind == "Job" {
        job_selector(obj);
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(tspec) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        pod::pod_spec_defaults(tspec);
    }
    if let Some(tmeta) = spec.get_mut("template").and_then(Value::as_object_mut) {
        tmeta.entry("metadata").or_insert_with(|| json!({}));
    }
    match kind {
        "Deployment" => {
            spec.entry("replicas").or_insert_with(|| json!(1));
            spec.entry("revisionHistoryLimit")
                .or_insert_with(|| json!(10));
            spec.entry("progressDeadlineSeconds")
                .or_insert_with(|| json!(600));
            let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
            if let Some(s) = strategy.as_object_mut() {
                s.entry("type").or_insert_with(|| json!("RollingUpdate"));
                if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Some(r) = ru.as_object_mut() {
                        r.entry("maxUnavailable").or_insert_with(|| json!("25%"));
                        r.entry("maxSurge").or_insert_with(|| json!("25%"));
                    }
                }
            }
        }
        "ReplicaSet" | "ReplicationController" => {
            spec.entry("replicas").or_insert_with(|| json!(1));
            if kind == "ReplicationController" && !spec.contains_key("selector") {
                let labels = spec
                    .get("template")
                    .and_then(|t| t.pointer("/metadata/labels"))
                    .cloned();
                if let Some(l) = labels {
                    spec.insert("selector".into(), l);
                }
            }
        }
        "StatefulSet" => {
            spec.entry("replicas").or_insert_with(|| json!(1));
            spec.entry("podManagementPolicy")
                .or_insert_with(|| json!("OrderedReady"));
            spec.entry("revisionHistoryLimit")
                .or_insert_with(|| json!(10));
            let us = spec.entry("updateStrategy").or_insert_with(|| json!({}));
            if let Some(u) = us.as_object_mut() {
                u.entry("type").or_insert_with(|| json!("RollingUpdate"));
                if u.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    let ru = u.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Some(r) = ru.as_object_mut() {
                        r.entry("partition").or_insert_with(|| json!(0));
                    }
                }
            }
            spec.entry("persistentVolumeClaimRetentionPolicy")
                .or_insert_with(|| json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
        }
        "DaemonSet" => {
            spec.entry("revisionHistoryLimit")
                .or_insert_with(|| json!(10));
            let us = spec.entry("updateStrategy").or_insert_with(|| json!({}));
            if let Some(u) = us.as_object_mut() {
                u.entry("type").or_insert_with(|| json!("RollingUpdate"));
                if u.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    let ru = u.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Some(r) = ru.as_object_mut() {
                        r.entry("maxUnavailable").or_insert_with(|| json!(1));
                        r.entry("maxSurge").or_insert_with(|| json!(0));
                    }
                }
            }
        }
        "Job" => {
            spec.entry("parallelism").or_insert_with(|| json!(1));
            spec.entry("backoffLimit").or_insert_with(|| json!(6));
            spec.entry("completionMode")
                .or_insert_with(|| json!("NonIndexed"));
            spec.entry("suspend").or_insert_with(|| json!(false));
            spec.entry("podReplacementPolicy")
                .or_insert_with(|| json!("TerminatingOrFailed"));
            spec.entry("manualSelector").or_insert_with(|| json!(false));
            if !spec.contains_key("completions") {
                spec.insert("completions".into(), json!(1));
            }
        }
        "CronJob" => {
            spec.entry("concurrencyPolicy")
                .or_insert_with(|| json!("Allow"));
            spec.entry("suspend").or_insert_with(|| json!(false));
            spec.entry("successfulJobsHistoryLimit")
                .or_insert_with(|| json!(3));
            spec.entry("failedJobsHistoryLimit")
                .or_insert_with(|| json!(1));
            if let Some(jt) = spec
                .get_mut("jobTemplate")
                .and_then(|t| t.pointer_mut("/spec/template/spec"))
            {
                pod::pod_spec_defaults(jt);
            }
        }
        _ => {}
    }
}

/// Jobs get a generated selector and template labels tied to their uid, as upstream.
fn job_selector(obj: &mut Value) {
    let uid = crate::meta::uid(obj).to_string();
    let name = crate::meta::name(obj).to_string();
    if uid.is_empty() {
        return;
    }
    let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if !manual && !spec.contains_key("selector") {
        spec.insert(
            "selector".into(),
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
    }
    if let Some(t) = spec.get_mut("template").and_then(Value::as_object_mut) {
        let meta = t.entry("metadata").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            let labels = m.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                for (k, v) in [
                    ("batch.kubernetes.io/controller-uid", &uid),
                    ("batch.kubernetes.io/job-name", &name),
                    ("controller-uid", &uid),
                    ("job-name", &name),
                ] {
                    l.entry(k).or_insert_with(|| json!(v));
                }
            }
        }
    }
}

/// A `metav1.LabelSelector` JSON as a parsed selector (`matchLabels` + `matchExpressions`).
pub fn selector_from_json(sel: &Value) -> Option<LabelSelector> {
    use crate::selectors::LabelRequirement as R;
    let mut reqs = Vec::new();
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            reqs.push(R::In(
                k.clone(),
                vec![v.as_str().unwrap_or_default().to_string()],
            ));
        }
    }
    if let Some(me) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in me {
            let key = e.get("key").and_then(Value::as_str)?.to_string();
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            reqs.push(match e.get("operator").and_then(Value::as_str)? {
                "In" => R::In(key, values),
                "NotIn" => R::NotIn(key, values),
                "Exists" => R::Exists(key),
                "DoesNotExist" => R::DoesNotExist(key),
                _ => return None,
            });
        }
    }
    Some(LabelSelector(reqs))
}

/// Workload validation.
pub fn validate(kind: &str, old: Option<&Value>, new: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    if kind == "CronJob" {
        match new.pointer("/spec/schedule") {
            None => out.push(Cause::required("spec.schedule", "")),
            Some(s) => {
                if let Err(why) = crate::cron::Schedule::parse(s.as_str().unwrap_or_default()) {
                    out.push(Cause::invalid("spec.schedule", s, &why));
                }
            }
        }
    }
    let has_template = matches!(
        kind,
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job"
    );
    if has_template {
        let selector = new.pointer("/spec/selector");
        match selector {
            None => out.push(Cause::required("spec.selector", "")),
            Some(sel) => {
                let empty = sel
                    .get("matchLabels")
                    .and_then(Value::as_object)
                    .is_none_or(|m| m.is_empty())
                    && sel
                        .get("matchExpressions")
                        .and_then(Value::as_array)
                        .is_none_or(|a| a.is_empty());
                if empty && kind != "Job" {
                    out.push(Cause::invalid(
                        "spec.selector",
                        sel,
                        "empty selector is invalid for deployment",
                    ));
                }
                let labels = new
                    .pointer("/spec/template/metadata/labels")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                match selector_from_json(sel) {
                    Some(s) if !empty && !s.matches_map(&labels) => out.push(Cause::invalid(
                        "spec.template.metadata.labels",
                        &json!(labels),
                        "`selector` does not match template `labels`",
                    )),
                    None => out.push(Cause::invalid(
                        "spec.selector",
                        sel,
                        "invalid label selector",
                    )),
                    _ => {}
                }
            }
        }
        match new.pointer("/spec/template/spec") {
            Some(t) => {
                let claims: Vec<String> = new
                    .pointer("/spec/volumeClaimTemplates")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| {
                                c.pointer("/metadata/name")
                                    .and_then(Value::as_str)
                                    .map(str::to_string)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                pod::validate_spec(t, "spec.template.spec", &claims, &mut out)
            }
            None => out.push(Cause::required("spec.template", "")),
        }
        if let Some(r) = new.pointer("/spec/replicas").and_then(Value::as_i64)
            && r < 0
        {
            out.push(Cause::invalid(
                "spec.replicas",
                &json!(r),
                "must be greater than or equal to 0",
            ));
        }
        if kind == "Deployment"
            || kind == "ReplicaSet"
            || kind == "DaemonSet"
            || kind == "StatefulSet"
        {
            let rp = new
                .pointer("/spec/template/spec/restartPolicy")
                .and_then(Value::as_str);
            if rp.is_some_and(|r| r != "Always") {
                out.push(Cause::not_supported(
                    "spec.template.spec.restartPolicy",
                    rp.unwrap_or_default(),
                    &["Always"],
                ));
            }
        }
        if kind == "Job" {
            let rp = new
                .pointer("/spec/template/spec/restartPolicy")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if rp != "OnFailure" && rp != "Never" {
                out.push(Cause::not_supported(
                    "spec.template.spec.restartPolicy",
                    rp,
                    &["OnFailure", "Never"],
                ));
            }
        }
    }
    if let Some(old) = old
        && has_template
        && old.pointer("/spec/selector") != new.pointer("/spec/selector")
    {
        out.push(Cause::invalid(
            "spec.selector",
            new.pointer("/spec/selector").unwrap_or(&Value::Null),
            "field is immutable",
        ));
    }
    out
}

/// The strategy of a workload kind: its defaults (pod template included) and, for apps/v1
/// and batch/v1 kinds, its validation.
#[derive(Debug)]
pub struct Workload {
    kind: &'static str,
    validates: bool,
}

impl Workload {
    /// An apps/v1 or batch/v1 workload: defaults and validation.
    pub fn new(kind: &'static str) -> Self {
        Workload {
            kind,
            validates: true,
        }
    }

    /// A core/v1 workload (ReplicationController, PodTemplate): defaults only.
    pub fn core(kind: &'static str) -> Self {
        Workload {
            kind,
            validates: false,
        }
    }
}

impl Strategy for Workload {
    fn defaults(&self, obj: &mut Value) {
        defaults(self.kind, obj);
    }
    fn validate(&self, old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        if self.validates {
            validate(self.kind, old, new)
        } else {
            Vec::new()
        }
    }
}
