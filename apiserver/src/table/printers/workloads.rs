//! Printers of apps/v1 and batch/v1 workloads, core/v1 ReplicationControllers and apps/v1
//! ControllerRevisions.

use serde_json::{Value, json};

use super::common::*;
use crate::table::format::{
    age, format_label_selector, format_labels, format_selector, human_duration,
};

/// Upstream's printer for Deployments.
pub fn deployment() -> Printer {
    Printer {
        columns: deployment_columns(),
        print: print_deployment,
    }
}

/// Upstream's printer for ReplicaSets.
pub fn replica_set() -> Printer {
    Printer {
        columns: replicaset_columns(),
        print: print_replicaset,
    }
}

/// Upstream's printer for StatefulSets.
pub fn stateful_set() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Ready",
                "string",
                0,
                Doc::Text("Number of the pod with ready state"),
            ),
            AGE,
            CONTAINERS,
            IMAGES,
        ],
        print: |o, now| {
            let (c, i) = containers_images(o);
            let ready = format!("{}/{}", n(o, "/status/readyReplicas"), replicas(o));
            cells([name(o), ready.into(), created(o, now), c.into(), i.into()])
        },
    }
}

/// Upstream's printer for DaemonSets.
pub fn daemon_set() -> Printer {
    Printer {
        columns: daemonset_columns(),
        print: print_daemonset,
    }
}

/// Upstream's printer for Jobs.
pub fn job() -> Printer {
    Printer {
        columns: job_columns(),
        print: print_job,
    }
}

/// Upstream's printer for CronJobs.
pub fn cron_job() -> Printer {
    Printer {
        columns: cronjob_columns(),
        print: print_cronjob,
    }
}

/// Upstream's printer for ReplicationControllers.
pub fn replication_controller() -> Printer {
    let spec = "io.k8s.api.core.v1.ReplicationControllerSpec";
    let status = "io.k8s.api.core.v1.ReplicationControllerStatus";
    Printer {
        columns: vec![
            NAME,
            Col("Desired", "integer", 0, Doc::Field(spec, "replicas")),
            Col("Current", "integer", 0, Doc::Field(status, "replicas")),
            Col("Ready", "integer", 0, Doc::Field(status, "readyReplicas")),
            AGE,
            CONTAINERS,
            IMAGES,
            Col("Selector", "string", 1, Doc::Field(spec, "selector")),
        ],
        print: |o, now| {
            let (c, i) = containers_images(o);
            cells([
                name(o),
                json!(replicas(o)),
                json!(n(o, "/status/replicas")),
                json!(n(o, "/status/readyReplicas")),
                created(o, now),
                c.into(),
                i.into(),
                // A map selector, printed as labels are.
                format_labels(o.pointer("/spec/selector")).into(),
            ])
        },
    }
}

/// Upstream's printer for ControllerRevisions: the controlling owner as `kind.group/name`.
pub fn controller_revision() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Controller",
                "string",
                0,
                Doc::Text("Controller of the object"),
            ),
            Col(
                "Revision",
                "string",
                0,
                // Upstream's (apps/v1beta1) wording.
                Doc::Text("revision indicates the revision of the state represented by Data."),
            ),
            AGE,
        ],
        print: |o, now| {
            let controller = arr(o, "/metadata/ownerReferences")
                .iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                .map_or_else(|| "<none>".to_owned(), owner_name);
            cells([
                name(o),
                controller.into(),
                json!(n(o, "/revision")),
                created(o, now),
            ])
        },
    }
}

/// `kind.group/name` in lower case (`kind/name` for the core group, the bare name when the
/// reference names neither).
fn owner_name(owner: &Value) -> String {
    let api_version = s(owner, "/apiVersion");
    let group = match api_version.split_once('/') {
        Some((group, _)) => group,
        None => "",
    };
    let kind = s(owner, "/kind");
    let group_kind = match (kind, group) {
        ("", "") => return s(owner, "/name").to_owned(),
        (kind, "") => kind.to_owned(),
        (kind, group) => format!("{kind}.{group}"),
    };
    format!("{}/{}", group_kind.to_lowercase(), s(owner, "/name"))
}

fn deployment_columns() -> Vec<Col> {
    let status = "io.k8s.api.apps.v1.DeploymentStatus";
    vec![
        NAME,
        Col(
            "Ready",
            "string",
            0,
            Doc::Text("Number of the pod with ready state"),
        ),
        Col(
            "Up-to-date",
            "integer",
            0,
            Doc::Field(status, "updatedReplicas"),
        ),
        Col(
            "Available",
            "integer",
            0,
            Doc::Field(status, "availableReplicas"),
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        Col(
            "Selector",
            "string",
            1,
            Doc::Field("io.k8s.api.apps.v1.DeploymentSpec", "selector"),
        ),
    ]
}

fn print_deployment(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let (c, i) = containers_images(o);
    (
        vec![
            name(o),
            format!("{}/{}", n(o, "/status/readyReplicas"), replicas(o)).into(),
            json!(n(o, "/status/updatedReplicas")),
            json!(n(o, "/status/availableReplicas")),
            created(o, now),
            c.into(),
            i.into(),
            format_selector(o.pointer("/spec/selector")).into(),
        ],
        None,
    )
}

fn replicaset_columns() -> Vec<Col> {
    let spec = "io.k8s.api.apps.v1.ReplicaSetSpec";
    let status = "io.k8s.api.apps.v1.ReplicaSetStatus";
    vec![
        NAME,
        Col("Desired", "integer", 0, Doc::Field(spec, "replicas")),
        Col("Current", "integer", 0, Doc::Field(status, "replicas")),
        Col("Ready", "integer", 0, Doc::Field(status, "readyReplicas")),
        AGE,
        CONTAINERS,
        IMAGES,
        Col("Selector", "string", 1, Doc::Field(spec, "selector")),
    ]
}

fn print_replicaset(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let (c, i) = containers_images(o);
    (
        vec![
            name(o),
            json!(replicas(o)),
            json!(n(o, "/status/replicas")),
            json!(n(o, "/status/readyReplicas")),
            created(o, now),
            c.into(),
            i.into(),
            format_label_selector(o.pointer("/spec/selector")).into(),
        ],
        None,
    )
}

fn daemonset_columns() -> Vec<Col> {
    let status = "io.k8s.api.apps.v1.DaemonSetStatus";
    vec![
        NAME,
        Col(
            "Desired",
            "integer",
            0,
            Doc::Field(status, "desiredNumberScheduled"),
        ),
        Col(
            "Current",
            "integer",
            0,
            Doc::Field(status, "currentNumberScheduled"),
        ),
        Col("Ready", "integer", 0, Doc::Field(status, "numberReady")),
        Col(
            "Up-to-date",
            "integer",
            0,
            Doc::Field(status, "updatedNumberScheduled"),
        ),
        Col(
            "Available",
            "integer",
            0,
            Doc::Field(status, "numberAvailable"),
        ),
        Col(
            "Node Selector",
            "string",
            0,
            Doc::Field("io.k8s.api.core.v1.PodSpec", "nodeSelector"),
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        Col(
            "Selector",
            "string",
            1,
            Doc::Field("io.k8s.api.apps.v1.DaemonSetSpec", "selector"),
        ),
    ]
}

fn job_columns() -> Vec<Col> {
    vec![
        NAME,
        Col("Status", "string", 0, Doc::Text("Status of the job.")),
        Col(
            "Completions",
            "string",
            0,
            Doc::Field("io.k8s.api.batch.v1.JobStatus", "succeeded"),
        ),
        Col(
            "Duration",
            "string",
            0,
            Doc::Text("Time required to complete the job."),
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        Col(
            "Selector",
            "string",
            1,
            Doc::Field("io.k8s.api.batch.v1.JobSpec", "selector"),
        ),
    ]
}

/// Upstream's job status column: the first of these conditions that holds.
fn job_status(o: &Value) -> &'static str {
    let has = |kind: &str| {
        arr(o, "/status/conditions")
            .iter()
            .any(|c| s(c, "/type") == kind && s(c, "/status") == "True")
    };
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if o.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

fn print_job(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let (c, i) = containers_images(o);
    let succeeded = n(o, "/status/succeeded");
    let completions = match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(total) => format!("{succeeded}/{total}"),
        None => match n(o, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let time = |p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    let duration = match (time("/status/startTime"), time("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.as_second() - start.as_second()),
        (Some(start), Some(end)) => human_duration(end.as_second() - start.as_second()),
    };
    (
        vec![
            name(o),
            job_status(o).into(),
            completions.into(),
            duration.into(),
            created(o, now),
            c.into(),
            i.into(),
            format_label_selector(o.pointer("/spec/selector")).into(),
        ],
        None,
    )
}

fn cronjob_columns() -> Vec<Col> {
    let spec = "io.k8s.api.batch.v1.CronJobSpec";
    vec![
        NAME,
        Col("Schedule", "string", 0, Doc::Field(spec, "schedule")),
        Col("Timezone", "string", 0, Doc::Field(spec, "timeZone")),
        Col("Suspend", "boolean", 0, Doc::Field(spec, "suspend")),
        Col(
            "Active",
            "integer",
            0,
            Doc::Field("io.k8s.api.batch.v1.CronJobStatus", "active"),
        ),
        Col(
            "Last Schedule",
            "date",
            0,
            Doc::Field("io.k8s.api.batch.v1.CronJobStatus", "lastScheduleTime"),
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        Col(
            "Selector",
            "string",
            1,
            Doc::Field("io.k8s.api.batch.v1.JobSpec", "selector"),
        ),
    ]
}

fn print_cronjob(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let containers = arr(o, "/spec/jobTemplate/spec/template/spec/containers");
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    let last = match o.pointer("/status/lastScheduleTime") {
        Some(t) => age(Some(t), now),
        None => "<none>".to_string(),
    };
    let tz = match s(o, "/spec/timeZone") {
        "" => "<none>",
        z => z,
    };
    (
        vec![
            name(o),
            s(o, "/spec/schedule").into(),
            tz.into(),
            match o.pointer("/spec/suspend").and_then(Value::as_bool) {
                Some(true) => "True",
                Some(false) => "False",
                None => "<unset>",
            }
            .into(),
            json!(arr(o, "/status/active").len()),
            last.into(),
            created(o, now),
            names.join(",").into(),
            images.join(",").into(),
            format_label_selector(o.pointer("/spec/jobTemplate/spec/selector")).into(),
        ],
        None,
    )
}

fn print_daemonset(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let (c, i) = containers_images(o);
    (
        vec![
            name(o),
            json!(n(o, "/status/desiredNumberScheduled")),
            json!(n(o, "/status/currentNumberScheduled")),
            json!(n(o, "/status/numberReady")),
            json!(n(o, "/status/updatedNumberScheduled")),
            json!(n(o, "/status/numberAvailable")),
            format_labels(o.pointer("/spec/template/spec/nodeSelector")).into(),
            created(o, now),
            c.into(),
            i.into(),
            format_label_selector(o.pointer("/spec/selector")).into(),
        ],
        None,
    )
}
