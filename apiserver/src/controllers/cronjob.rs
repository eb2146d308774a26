//! CronJobs create a Job from their `jobTemplate` at each scheduled minute (in `timeZone`, UTC by
//! default), honouring `suspend`, `startingDeadlineSeconds` and `concurrencyPolicy`, keep
//! `successfulJobsHistoryLimit`/`failedJobsHistoryLimit` finished jobs, and report `active`,
//! `lastScheduleTime` and `lastSuccessfulTime`.

use std::sync::Arc;
use std::time::Duration;

use jiff::{ToSpan, Zoned};
use serde_json::{Value, json};

use super::events;
use super::replicaset::owner_ref;
use super::runtime::{Controller, Key, Requeue, keys_of, owner_keys};
use crate::api::{Api, Change};
use crate::cron::Schedule;
use crate::error::ApiError;
use crate::meta::controller_of;
use crate::storage::Actor;
use crate::storage::{DeleteOptions, delete_object};
use crate::{meta, storage};

/// The component that records the loop's events.
const COMPONENT: &str = "cronjob-controller";
/// Annotation upstream puts on each job with the time it was scheduled for.
const SCHEDULED_AT: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// How far back missed schedules are looked for.
const LOOK_BACK_MINUTES: i64 = 7 * 24 * 60;

/// The cronjob controller.
pub struct CronJobController;

impl Controller for CronJobController {
    fn name(&self) -> &'static str {
        "cronjob"
    }

    fn keys_for(&self, _api: &Api, change: &Change) -> Vec<Key> {
        owner_keys(change, "batch/cronjobs", "batch/jobs", "CronJob")
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, "batch/cronjobs")
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "batch", "cronjobs")?;
        let job_def = storage::def(&api, "batch", "jobs")?;
        let Some(cj) = storage::get(&api, &def, &key.0, &key.1) else {
            return Ok(None);
        };
        if meta::is_deleting(&cj) {
            return Ok(None);
        }
        let spec_text = cj
            .pointer("/spec/schedule")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Ok(schedule) = Schedule::parse(spec_text) else {
            return Ok(None);
        };
        let tz = cj
            .pointer("/spec/timeZone")
            .and_then(Value::as_str)
            .and_then(|z| jiff::tz::TimeZone::get(z).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let now = Zoned::now().with_time_zone(tz);
        let mut jobs = owned_jobs(&api, &cj);
        saw_completed(&api, &cj, &jobs).await;
        let mut last_scheduled = None;
        if let Some(t) = due(&cj, &schedule, &now) {
            let name = format!("{}-{}", meta::name(&cj), t.timestamp().as_second() / 60);
            let exists = jobs.iter().any(|j| meta::name(j) == name);
            let active: Vec<Value> = jobs.iter().filter(|j| !finished(j)).cloned().collect();
            let policy = cj
                .pointer("/spec/concurrencyPolicy")
                .and_then(Value::as_str)
                .unwrap_or("Allow");
            let blocked = policy == "Forbid" && !active.is_empty();
            if !exists && !blocked {
                if policy == "Replace" {
                    for j in &active {
                        delete_job(&api, &job_def, &cj, j).await?;
                    }
                }
                let result = storage::create(
                    &api,
                    &job_def,
                    &Actor::system("cronjob-controller"),
                    job_for(&cj, &name, &t),
                )
                .await;
                let kind = ("CronJob", "batch/v1");
                super::events::creation(&api, "cronjob-controller", &cj, kind, &result, |n| {
                    format!("Created job {n}")
                })
                .await;
                let job = result?;
                jobs.push(job);
                last_scheduled = Some(t);
            } else if exists {
                last_scheduled = Some(t);
            }
        }
        prune_history(&api, &job_def, &cj, &jobs).await?;
        let jobs = owned_jobs(&api, &cj);
        write_status(&api, &def, &cj, &jobs, last_scheduled.as_ref()).await?;
        Ok(next_wake(&schedule, &now))
    }
}

/// The latest scheduled minute not yet acted on, if it is still within the starting deadline.
fn due(cj: &Value, schedule: &Schedule, now: &Zoned) -> Option<Zoned> {
    if cj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let since = cj
        .pointer("/status/lastScheduleTime")
        .or_else(|| cj.pointer("/metadata/creationTimestamp"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())?;
    let mut t = now.round(jiff::Unit::Minute).ok()?;
    if t > *now {
        t = t.checked_sub(1.minute()).ok()?;
    }
    for _ in 0..LOOK_BACK_MINUTES {
        if t.timestamp() <= since {
            return None;
        }
        if schedule.matches(&t) {
            let late = now.timestamp().as_second() - t.timestamp().as_second();
            let deadline = cj
                .pointer("/spec/startingDeadlineSeconds")
                .and_then(Value::as_i64);
            return deadline.is_none_or(|d| late <= d).then_some(t);
        }
        t = t.checked_sub(1.minute()).ok()?;
    }
    None
}

/// When to look again: the next scheduled minute (at most an hour away).
fn next_wake(schedule: &Schedule, now: &Zoned) -> Requeue {
    let mut t = now.round(jiff::Unit::Minute).ok()?;
    for _ in 0..60 {
        t = t.checked_add(1.minute()).ok()?;
        if schedule.matches(&t) {
            let wait = t.timestamp().as_millisecond() - now.timestamp().as_millisecond();
            return Some(Duration::from_millis(u64::try_from(wait.max(0)).ok()? + 50));
        }
    }
    Some(Duration::from_secs(3600))
}

/// The Job for the run scheduled at `t`.
fn job_for(cj: &Value, name: &str, t: &Zoned) -> Value {
    let tpl = cj
        .pointer("/spec/jobTemplate")
        .cloned()
        .unwrap_or(json!({}));
    let mut metadata = tpl.get("metadata").cloned().unwrap_or(json!({}));
    metadata["name"] = json!(name);
    metadata["namespace"] = json!(meta::namespace(cj));
    metadata["annotations"][SCHEDULED_AT] = json!(t.timestamp().to_string());
    metadata["ownerReferences"] = json!([owner_ref(cj, "CronJob", "batch/v1")]);
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": tpl.get("spec").cloned().unwrap_or(json!({})),
    })
}

fn owned_jobs(api: &Api, cj: &Value) -> Vec<Value> {
    let uid = meta::uid(cj);
    api.store
        .list(
            "batch/jobs",
            Some(meta::namespace(cj)),
            None,
            None,
            |_, _| true,
        )
        .items
        .iter()
        .filter_map(|o| o.value().ok())
        .filter(|j| controller_of(j).is_some_and(|(k, _, u)| k == "CronJob" && u == uid))
        .collect()
}

/// `Complete` or `Failed`, and which.
fn outcome(job: &Value) -> Option<&'static str> {
    let conds = job.pointer("/status/conditions")?.as_array()?;
    ["Complete", "Failed"].into_iter().find(|k| {
        conds
            .iter()
            .any(|c| c["type"] == *k && c["status"] == "True")
    })
}

fn finished(job: &Value) -> bool {
    outcome(job).is_some()
}

/// `SawCompletedJob` for each job the CronJob lists as active that has finished, worded as
/// upstream (`Saw completed job: <name>, status: Complete|Failed`).
async fn saw_completed(api: &Api, cj: &Value, jobs: &[Value]) {
    let active: Vec<&str> = cj
        .pointer("/status/active")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
        .collect();
    for j in jobs.iter().filter(|j| active.contains(&meta::uid(j))) {
        if let Some(status) = outcome(j) {
            let message = format!("Saw completed job: {}, status: {status}", meta::name(j));
            let kind = ("CronJob", "batch/v1");
            events::record(
                api,
                COMPONENT,
                cj,
                kind,
                "Normal",
                "SawCompletedJob",
                &message,
            )
            .await;
        }
    }
}

/// Deletes one of the CronJob's jobs, recording `SuccessfulDelete`/`FailedDelete` as upstream.
async fn delete_job(
    api: &Api,
    def: &crate::registry::ResourceDef,
    cj: &Value,
    job: &Value,
) -> Result<(), ApiError> {
    let opts = DeleteOptions {
        propagation: Some("Background".into()),
        ..DeleteOptions::default()
    };
    let kind = ("CronJob", "batch/v1");
    match delete_object(api, def, meta::namespace(job), meta::name(job), &opts).await {
        Ok(_) => {
            let message = format!("Deleted job {}", meta::name(job));
            events::record(
                api,
                COMPONENT,
                cj,
                kind,
                "Normal",
                "SuccessfulDelete",
                &message,
            )
            .await;
            Ok(())
        }
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => {
            let message = format!("Deleted job: {}", e.message);
            events::record(
                api,
                COMPONENT,
                cj,
                kind,
                "Warning",
                "FailedDelete",
                &message,
            )
            .await;
            Err(e)
        }
    }
}

/// Deletes the oldest finished jobs beyond the history limits.
async fn prune_history(
    api: &Api,
    def: &crate::registry::ResourceDef,
    cj: &Value,
    jobs: &[Value],
) -> Result<(), ApiError> {
    for (kind, limit_field, default) in [
        ("Complete", "successfulJobsHistoryLimit", 3),
        ("Failed", "failedJobsHistoryLimit", 1),
    ] {
        let limit = cj
            .pointer(&format!("/spec/{limit_field}"))
            .and_then(Value::as_u64)
            .unwrap_or(default) as usize;
        let mut done: Vec<&Value> = jobs.iter().filter(|j| outcome(j) == Some(kind)).collect();
        done.sort_by_key(|j| {
            meta::meta_str(j, "creationTimestamp")
                .unwrap_or_default()
                .to_string()
        });
        let excess = done.len().saturating_sub(limit);
        for j in done.into_iter().take(excess) {
            delete_job(api, def, cj, j).await?;
        }
    }
    Ok(())
}

async fn write_status(
    api: &Api,
    def: &crate::registry::ResourceDef,
    cj: &Value,
    jobs: &[Value],
    scheduled: Option<&Zoned>,
) -> Result<(), ApiError> {
    let old = cj.get("status").cloned().unwrap_or(json!({}));
    let mut status = old.clone();
    let active: Vec<Value> = jobs
        .iter()
        .filter(|j| !finished(j))
        .map(|j| {
            json!({"kind": "Job", "apiVersion": "batch/v1", "namespace": meta::namespace(j),
                "name": meta::name(j), "uid": meta::uid(j),
                "resourceVersion": meta::meta_str(j, "resourceVersion").unwrap_or_default()})
        })
        .collect();
    if let Some(m) = status.as_object_mut() {
        if active.is_empty() {
            m.remove("active");
        } else {
            m.insert("active".into(), json!(active));
        }
    }
    if let Some(t) = scheduled {
        status["lastScheduleTime"] = json!(t.timestamp().to_string());
    }
    let last_success = jobs
        .iter()
        .filter(|j| outcome(j) == Some("Complete"))
        .filter_map(|j| j.pointer("/status/completionTime").and_then(Value::as_str))
        .max();
    if let Some(t) = last_success {
        status["lastSuccessfulTime"] = json!(t);
    }
    super::runtime::write_status(api, def, cj, "cronjob-controller", status).await
}
