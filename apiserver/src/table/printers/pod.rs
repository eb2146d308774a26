//! The Pod printer.

use serde_json::{Value, json};

use super::common::*;
use crate::table::format::human_duration;

/// Upstream's printer for Pods.
pub fn pod() -> Printer {
    Printer {
        columns: pod_columns(),
        print: print_pod,
    }
}

fn pod_columns() -> Vec<Col> {
    vec![
        NAME,
        Col(
            "Ready",
            "string",
            0,
            Doc::Text("The aggregate readiness state of this pod for accepting traffic."),
        ),
        Col(
            "Status",
            "string",
            0,
            Doc::Text("The aggregate status of the containers in this pod."),
        ),
        Col(
            "Restarts",
            "string",
            0,
            Doc::Text(
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
        ),
        AGE,
        Col(
            "IP",
            "string",
            1,
            Doc::Field("io.k8s.api.core.v1.PodStatus", "podIP"),
        ),
        Col(
            "Node",
            "string",
            1,
            Doc::Field("io.k8s.api.core.v1.PodSpec", "nodeName"),
        ),
        Col(
            "Nominated Node",
            "string",
            1,
            Doc::Field("io.k8s.api.core.v1.PodStatus", "nominatedNodeName"),
        ),
        Col(
            "Readiness Gates",
            "string",
            1,
            Doc::Field("io.k8s.api.core.v1.PodSpec", "readinessGates"),
        ),
    ]
}

fn timestamp_secs(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second())
}

/// Tracks the most recent container termination for `N (5m ago)` restart cells.
fn last_termination(status: &Value, latest: &mut Option<i64>) {
    if let Some(t) = timestamp_secs(status.pointer("/lastState/terminated/finishedAt")) {
        *latest = Some(latest.map_or(t, |l| l.max(t)));
    }
}

fn terminated_reason(prefix: &str, terminated: &Value) -> String {
    let reason = s(terminated, "/reason");
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = n(terminated, "/signal");
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!("{prefix}ExitCode:{}", n(terminated, "/exitCode"))
    }
}

fn condition_true(o: &Value, kind: &str) -> bool {
    arr(o, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == kind && s(c, "/status") == "True")
}

/// Upstream's printPod: ready count, status reason, restarts, wide columns.
fn print_pod(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let phase = s(o, "/status/phase");
    let mut reason = if s(o, "/status/reason").is_empty() {
        phase.to_owned()
    } else {
        s(o, "/status/reason").to_owned()
    };
    if arr(o, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".to_owned();
    }
    let conditions = match phase {
        "Succeeded" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
        ),
        "Failed" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
        ),
        _ => None,
    };
    let init_specs = arr(o, "/spec/initContainers");
    let sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| s(c, "/name") == name && s(c, "/restartPolicy") == "Always")
    };
    let total = arr(o, "/spec/containers").len()
        + init_specs
            .iter()
            .filter(|c| s(c, "/restartPolicy") == "Always")
            .count();
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart = None;
    let mut last_sidecar_restart = None;
    let mut initializing = false;
    for (i, st) in arr(o, "/status/initContainerStatuses").iter().enumerate() {
        let cname = s(st, "/name");
        restarts += n(st, "/restartCount");
        last_termination(st, &mut last_restart);
        if sidecar(cname) {
            sidecar_restarts += n(st, "/restartCount");
            last_termination(st, &mut last_sidecar_restart);
        }
        let terminated = st.pointer("/state/terminated");
        let waiting_reason = s(st, "/state/waiting/reason");
        if terminated.is_some_and(|t| n(t, "/exitCode") == 0) {
            continue;
        }
        if sidecar(cname) && st.get("started").and_then(Value::as_bool) == Some(true) {
            if st.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = match terminated {
            Some(t) => terminated_reason("Init:", t),
            None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                format!("Init:{waiting_reason}")
            }
            None => format!("Init:{i}/{}", init_specs.len()),
        };
        initializing = true;
        break;
    }
    if !initializing || condition_true(o, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for st in arr(o, "/status/containerStatuses").iter().rev() {
            restarts += n(st, "/restartCount");
            last_termination(st, &mut last_restart);
            let waiting = s(st, "/state/waiting/reason");
            let terminated = st.pointer("/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_owned();
            } else if let Some(t) = terminated {
                reason = terminated_reason("", t);
            } else if st.get("ready").and_then(Value::as_bool) == Some(true)
                && st.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(o, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_owned();
        }
    }
    let deleting = o.pointer("/metadata/deletionTimestamp").is_some();
    if deleting && s(o, "/status/reason") == "NodeLost" {
        reason = "Unknown".to_owned();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_owned();
    }
    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => {
            format!("{restarts} ({} ago)", human_duration(now.as_second() - t))
        }
        _ => restarts.to_string(),
    };
    let gates = arr(o, "/spec/readinessGates");
    let gates_cell = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let ok = gates
            .iter()
            .filter(|g| {
                arr(o, "/status/conditions")
                    .iter()
                    .find(|c| s(c, "/type") == s(g, "/conditionType"))
                    .is_some_and(|c| s(c, "/status") == "True")
            })
            .count();
        format!("{ok}/{}", gates.len())
    };
    let ip = arr(o, "/status/podIPs")
        .first()
        .map(|p| s(p, "/ip"))
        .unwrap_or_default();
    (
        vec![
            name(o),
            format!("{ready}/{total}").into(),
            reason.into(),
            restarts_cell.into(),
            created(o, now),
            or_none(ip),
            or_none(s(o, "/spec/nodeName")),
            or_none(s(o, "/status/nominatedNodeName")),
            gates_cell.into(),
        ],
        conditions,
    )
}
