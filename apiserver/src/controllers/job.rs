//! Jobs run pods from their template to completion: `parallelism` at once until `completions`
//! succeed (indexed jobs get one pod per index), fail past `backoffLimit` or
//! `activeDeadlineSeconds`, stop while suspended, and go away `ttlSecondsAfterFinished` after
//! they finish. Status and conditions follow upstream (`SuccessCriteriaMet` then `Complete`,
//! `FailureTarget` then `Failed`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::replicaset::{is_active, is_ready, owned_pods};
use super::runtime::{Controller, Key, Requeue, keys_of, owner_keys};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::storage::{DeleteOptions, delete_object};
use crate::{meta, storage};

/// Pods created in one sync at most.
const BURST: usize = 500;
/// Annotation and label carrying an indexed job pod's index.
const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

/// The job controller (with the TTL-after-finished controller's part for jobs).
pub struct JobController;

impl Controller for JobController {
    fn name(&self) -> &'static str {
        "job"
    }

    fn keys_for(&self, _api: &Api, change: &Change) -> Vec<Key> {
        owner_keys(change, "batch/jobs", "/pods", "Job")
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, "batch/jobs")
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "batch", "jobs")?;
        let Some(job) = storage::get(&api, &def, &key.0, &key.1) else {
            return Ok(None);
        };
        if meta::is_deleting(&job) {
            return Ok(None);
        }
        if let Some(finished) = finished_at(&job) {
            return expire(&api, &def, &job, &finished).await;
        }
        let pods = owned_pods(&api, &job, "Job", "batch/v1").await?;
        let counts = Counts::of(&job, &pods);
        let spec = Spec::of(&job);
        let verdict = judge(&job, &spec, &counts);
        let mut requeue = spec.deadline_left(&job);
        match &verdict {
            Verdict::Failed { .. } | Verdict::Suspended => {
                delete_active(&api, &key.0, &pods).await?;
            }
            Verdict::Running => {
                let created = start_pods(&api, &job, &spec, &counts).await?;
                if created == BURST {
                    requeue = Some(Duration::from_millis(100));
                }
            }
            Verdict::Complete => {}
        }
        let pods = owned_pods(&api, &job, "Job", "batch/v1").await?;
        write_status(&api, &def, &job, &Counts::of(&job, &pods), &verdict).await?;
        // The job has just finished (a finished one returned above): upstream's events.
        let finished = match &verdict {
            Verdict::Complete => Some(("Normal", "Completed", "Job completed")),
            Verdict::Failed { reason, message } => Some(("Warning", *reason, message.as_str())),
            _ => None,
        };
        if let Some((type_, reason, message)) = finished {
            let kind = ("Job", "batch/v1");
            super::events::record(&api, "job-controller", &job, kind, type_, reason, message).await;
        }
        Ok(requeue)
    }
}

/// The parts of the spec the controller acts on.
struct Spec {
    parallelism: usize,
    completions: Option<usize>,
    backoff_limit: usize,
    indexed: bool,
    suspended: bool,
    deadline: Option<i64>,
}

impl Spec {
    fn of(job: &Value) -> Spec {
        let num = |p: &str| {
            job.pointer(p)
                .and_then(Value::as_i64)
                .map(|n| n.max(0) as usize)
        };
        Spec {
            parallelism: num("/spec/parallelism").unwrap_or(1),
            completions: num("/spec/completions"),
            backoff_limit: num("/spec/backoffLimit").unwrap_or(6),
            indexed: job.pointer("/spec/completionMode").and_then(Value::as_str) == Some("Indexed"),
            suspended: job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true),
            deadline: job
                .pointer("/spec/activeDeadlineSeconds")
                .and_then(Value::as_i64),
        }
    }

    /// Time left before `activeDeadlineSeconds` runs out, to check again then.
    fn deadline_left(&self, job: &Value) -> Requeue {
        let deadline = self.deadline?;
        let left = deadline - running_secs(job)?;
        Some(Duration::from_secs(
            u64::try_from(left.max(0)).unwrap_or(0) + 1,
        ))
    }
}

/// Pods of the job by state.
struct Counts {
    active: usize,
    ready: usize,
    terminating: usize,
    succeeded: usize,
    failed: usize,
    /// Container restarts of `OnFailure` pods, which count toward the backoff limit.
    restarts: usize,
    /// Indexes that succeeded or are being worked on.
    taken: BTreeSet<usize>,
    succeeded_indexes: BTreeSet<usize>,
}

impl Counts {
    fn of(job: &Value, pods: &[Value]) -> Counts {
        let mut c = Counts {
            active: 0,
            ready: 0,
            terminating: 0,
            succeeded: 0,
            failed: 0,
            restarts: 0,
            taken: BTreeSet::new(),
            succeeded_indexes: BTreeSet::new(),
        };
        let previous = |f: &str| {
            job.pointer(&format!("/status/{f}"))
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize
        };
        for p in pods {
            let phase = p.pointer("/status/phase").and_then(Value::as_str);
            let index = pod_index(p);
            if meta::is_deleting(p) && phase != Some("Succeeded") && phase != Some("Failed") {
                c.terminating += 1;
            } else if is_active(p) {
                c.active += 1;
                c.ready += usize::from(is_ready(p));
                c.taken.extend(index);
                c.restarts += restart_count(p);
            } else if phase == Some("Succeeded") {
                c.succeeded += 1;
                c.taken.extend(index);
                c.succeeded_indexes.extend(index);
            } else if phase == Some("Failed") {
                c.failed += 1;
            }
        }
        // Finished pods may have been deleted since; the status keeps what was counted.
        c.succeeded = c.succeeded.max(previous("succeeded"));
        c.failed = c.failed.max(previous("failed"));
        c
    }
}

/// What the job's state calls for.
enum Verdict {
    Running,
    Suspended,
    Complete,
    Failed {
        reason: &'static str,
        message: String,
    },
}

fn judge(job: &Value, spec: &Spec, c: &Counts) -> Verdict {
    if spec.suspended {
        return Verdict::Suspended;
    }
    let done = match (spec.indexed, spec.completions) {
        (true, Some(n)) => c.succeeded_indexes.len() >= n,
        (false, Some(n)) => c.succeeded >= n,
        // Work-queue jobs finish once one pod succeeded and none is left running.
        (_, None) => c.succeeded > 0 && c.active == 0,
    };
    if done {
        return Verdict::Complete;
    }
    if c.failed + c.restarts > spec.backoff_limit {
        return Verdict::Failed {
            reason: "BackoffLimitExceeded",
            message: "Job has reached the specified backoff limit".into(),
        };
    }
    if let (Some(deadline), Some(ran)) = (spec.deadline, running_secs(job))
        && ran >= deadline
    {
        return Verdict::Failed {
            reason: "DeadlineExceeded",
            message: "Job was active longer than specified deadline".into(),
        };
    }
    Verdict::Running
}

/// Starts pods up to `parallelism`, never beyond what is left to complete.
async fn start_pods(api: &Api, job: &Value, spec: &Spec, c: &Counts) -> Result<usize, ApiError> {
    let left = match spec.completions {
        Some(n) if spec.indexed => n.saturating_sub(c.succeeded_indexes.len()),
        Some(n) => n.saturating_sub(c.succeeded),
        None if c.succeeded > 0 => 0,
        None => spec.parallelism,
    };
    let want = spec
        .parallelism
        .min(left)
        .saturating_sub(c.active)
        .min(BURST);
    let mut free = (0..spec.completions.unwrap_or(0)).filter(|i| !c.taken.contains(i));
    for _ in 0..want {
        let index = if spec.indexed { free.next() } else { None };
        if spec.indexed && index.is_none() {
            break;
        }
        create_job_pod(api, job, index).await?;
    }
    Ok(want)
}

async fn create_job_pod(api: &Api, job: &Value, index: Option<usize>) -> Result<(), ApiError> {
    let mut owner = job.clone();
    if let Some(i) = index {
        let tpl = &mut owner["spec"]["template"];
        tpl["metadata"]["annotations"][INDEX_KEY] = json!(i.to_string());
        tpl["metadata"]["labels"][INDEX_KEY] = json!(i.to_string());
        if tpl.pointer("/spec/hostname").is_none() {
            tpl["spec"]["hostname"] = json!(format!("{}-{i}", meta::name(job)));
        }
    }
    let result = super::replicaset::create_pod(api, &owner, "Job", "batch/v1", None).await;
    let kind = ("Job", "batch/v1");
    super::events::creation(api, "job-controller", job, kind, &result, |n| {
        format!("Created pod: {n}")
    })
    .await;
    result.map(|_| ())
}

async fn delete_active(api: &Api, ns: &str, pods: &[Value]) -> Result<(), ApiError> {
    let pod_def = storage::def(api, "", "pods")?;
    for p in pods.iter().filter(|p| is_active(p)) {
        super::runtime::delete_gone_ok(api, &pod_def, ns, meta::name(p)).await?;
    }
    Ok(())
}

async fn write_status(
    api: &Api,
    def: &crate::registry::ResourceDef,
    job: &Value,
    c: &Counts,
    verdict: &Verdict,
) -> Result<(), ApiError> {
    let old = job.get("status").cloned().unwrap_or(json!({}));
    let mut status = old.clone();
    let now = meta::now();
    let suspended = matches!(verdict, Verdict::Suspended);
    if !suspended && status.get("startTime").is_none() {
        status["startTime"] = json!(now);
    }
    let set = |s: &mut Value, k: &str, n: usize| {
        if n > 0 {
            s[k] = json!(n);
        } else if let Some(m) = s.as_object_mut() {
            m.remove(k);
        }
    };
    set(&mut status, "active", c.active);
    set(&mut status, "succeeded", c.succeeded);
    set(&mut status, "failed", c.failed);
    status["ready"] = json!(c.ready);
    status["terminating"] = json!(c.terminating);
    status["uncountedTerminatedPods"] = json!({});
    if let Some(m) = status.as_object_mut() {
        m.insert(
            "completedIndexes".into(),
            json!(ranges(&c.succeeded_indexes)),
        );
        if c.succeeded_indexes.is_empty() {
            m.remove("completedIndexes");
        }
    }
    let mut conditions: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let was_suspended = conditions.iter().any(|x| x["type"] == "Suspended");
    let mut add = |kind: &str, state: bool, reason: &str, message: &str| {
        let state = if state { "True" } else { "False" };
        if let Some(existing) = conditions.iter_mut().find(|x| x["type"] == kind) {
            if existing["status"] != state {
                *existing = condition(kind, state, reason, message, &now);
            }
        } else {
            conditions.push(condition(kind, state, reason, message, &now));
        }
    };
    match verdict {
        Verdict::Complete => {
            let message = "Reached expected number of succeeded pods";
            add("SuccessCriteriaMet", true, "CompletionsReached", message);
            add("Complete", true, "CompletionsReached", message);
            status["completionTime"] = json!(now);
        }
        Verdict::Failed { reason, message } => {
            add("FailureTarget", true, reason, message);
            add("Failed", true, reason, message);
        }
        Verdict::Suspended => add("Suspended", true, "JobSuspended", "Job suspended"),
        Verdict::Running => {
            if was_suspended {
                add("Suspended", false, "JobResumed", "Job resumed");
            }
        }
    }
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    super::runtime::write_status(api, def, job, "job-controller", status).await
}

fn condition(kind: &str, state: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": kind,
        "status": state,
        "reason": reason,
        "message": message,
        "lastProbeTime": now,
        "lastTransitionTime": now,
    })
}

/// When the job finished (`Complete` or `Failed`), if it did.
fn finished_at(job: &Value) -> Option<String> {
    job.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .map(str::to_string)
}

/// Deletes a finished job once `ttlSecondsAfterFinished` passed (its pods go with it).
async fn expire(
    api: &Api,
    def: &crate::registry::ResourceDef,
    job: &Value,
    finished: &str,
) -> Result<Requeue, ApiError> {
    let Some(ttl) = job
        .pointer("/spec/ttlSecondsAfterFinished")
        .and_then(Value::as_i64)
    else {
        return Ok(None);
    };
    let Some(age) = secs_since(finished) else {
        return Ok(None);
    };
    if age < ttl {
        return Ok(Some(Duration::from_secs(
            u64::try_from(ttl - age).unwrap_or(1),
        )));
    }
    let opts = DeleteOptions {
        propagation: Some("Foreground".into()),
        uid: Some(meta::uid(job).to_string()),
        ..DeleteOptions::default()
    };
    match delete_object(api, def, meta::namespace(job), meta::name(job), &opts).await {
        Ok(_) => Ok(None),
        Err(e) if e.code == 404 || e.code == 409 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Seconds since the job started.
fn running_secs(job: &Value) -> Option<i64> {
    secs_since(job.pointer("/status/startTime")?.as_str()?)
}

fn secs_since(rfc3339: &str) -> Option<i64> {
    let t: jiff::Timestamp = rfc3339.parse().ok()?;
    Some(jiff::Timestamp::now().as_second() - t.as_second())
}

fn pod_index(p: &Value) -> Option<usize> {
    p.pointer("/metadata/annotations")
        .and_then(|a| a.get(INDEX_KEY))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

fn restart_count(p: &Value) -> usize {
    if p.pointer("/spec/restartPolicy").and_then(Value::as_str) != Some("OnFailure") {
        return 0;
    }
    p.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map_or(0, |cs| {
            cs.iter()
                .filter_map(|c| c["restartCount"].as_u64())
                .sum::<u64>() as usize
        })
}

/// Indexes as upstream writes `completedIndexes`: `1,3-5,7`.
fn ranges(set: &BTreeSet<usize>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut it = set.iter().copied().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end + 1)) {
            end += 1;
            it.next();
        }
        out.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_indexes_are_written_as_ranges() {
        let set: BTreeSet<usize> = [0, 1, 2, 4, 6, 7].into_iter().collect();
        assert_eq!(ranges(&set), "0-2,4,6-7");
        assert_eq!(ranges(&BTreeSet::new()), "");
    }

    #[test]
    fn verdicts_follow_counts() {
        let job = json!({"spec": {"completions": 2, "backoffLimit": 1}});
        let spec = Spec::of(&job);
        let counts = |succeeded, failed| Counts {
            active: 0,
            ready: 0,
            terminating: 0,
            succeeded,
            failed,
            restarts: 0,
            taken: BTreeSet::new(),
            succeeded_indexes: BTreeSet::new(),
        };
        assert!(matches!(
            judge(&job, &spec, &counts(2, 0)),
            Verdict::Complete
        ));
        assert!(matches!(
            judge(&job, &spec, &counts(1, 1)),
            Verdict::Running
        ));
        assert!(matches!(
            judge(&job, &spec, &counts(0, 2)),
            Verdict::Failed {
                reason: "BackoffLimitExceeded",
                ..
            }
        ));
    }
}
