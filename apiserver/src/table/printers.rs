//! Upstream's server-side printers (always "wide": priority-1 cells are included) for the
//! built-in kinds the project serves.

use serde_json::{Value, json};

use super::format::{age, format_labels, format_selector, human_duration};

/// Where a column's description comes from.
pub(super) enum Doc {
    /// A property description in the served definitions (upstream's `SwaggerDoc()`).
    Field(&'static str, &'static str),
    /// Literal text.
    Text(&'static str),
}

/// A column: name, type, priority, description.
pub(super) struct Col(pub &'static str, pub &'static str, pub i64, pub Doc);

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub(super) const NAME: Col = Col("Name", "string", 0, Doc::Field(META, "name"));
pub(super) const AGE: Col = Col("Age", "string", 0, Doc::Field(META, "creationTimestamp"));
const CONTAINERS: Col = Col(
    "Containers",
    "string",
    1,
    Doc::Text("Names of each container in the template."),
);
const IMAGES: Col = Col(
    "Images",
    "string",
    1,
    Doc::Text("Images referenced by each container in the template."),
);

/// Cells of a row and its optional `conditions`.
pub(super) type RowCells = (Vec<Value>, Option<Value>);

/// Produces one row from an object at a given time.
pub(super) type PrintFn = fn(&Value, jiff::Timestamp) -> RowCells;

/// A printer: its columns and the function producing cells (and row conditions).
pub(super) struct Printer {
    pub columns: Vec<Col>,
    pub print: PrintFn,
}

/// The printer for a group and kind, if upstream has one that we implement.
pub(super) fn printer_for(group: &str, kind: &str) -> Option<Printer> {
    let p = |columns, print| Some(Printer { columns, print });
    match (group, kind) {
        ("", "Pod") => p(pod_columns(), print_pod),
        ("", "Node") => p(node_columns(), print_node),
        ("", "Namespace") => p(
            vec![
                NAME,
                Col(
                    "Status",
                    "string",
                    0,
                    Doc::Text("The status of the namespace"),
                ),
                AGE,
            ],
            |o, now| cells([name(o), s(o, "/status/phase").into(), created(o, now)]),
        ),
        ("", "Service") => p(service_columns(), print_service),
        ("", "Endpoints") => p(
            vec![
                NAME,
                Col(
                    "Endpoints",
                    "string",
                    0,
                    Doc::Field("io.k8s.api.core.v1.Endpoints", "subsets"),
                ),
                AGE,
            ],
            |o, now| cells([name(o), format_endpoints(o).into(), created(o, now)]),
        ),
        ("", "Secret") => p(
            vec![
                NAME,
                Col(
                    "Type",
                    "string",
                    0,
                    Doc::Field("io.k8s.api.core.v1.Secret", "type"),
                ),
                Col(
                    "Data",
                    "string",
                    0,
                    Doc::Field("io.k8s.api.core.v1.Secret", "data"),
                ),
                AGE,
            ],
            |o, now| {
                cells([
                    name(o),
                    s(o, "/type").into(),
                    json!(len(o, "/data")),
                    created(o, now),
                ])
            },
        ),
        ("", "ConfigMap") => p(
            vec![
                NAME,
                Col(
                    "Data",
                    "string",
                    0,
                    Doc::Field("io.k8s.api.core.v1.ConfigMap", "data"),
                ),
                AGE,
            ],
            |o, now| {
                let n = len(o, "/data") + len(o, "/binaryData");
                cells([name(o), json!(n), created(o, now)])
            },
        ),
        ("", "ServiceAccount") => p(
            vec![
                NAME,
                Col(
                    "Secrets",
                    "string",
                    0,
                    Doc::Field("io.k8s.api.core.v1.ServiceAccount", "secrets"),
                ),
                AGE,
            ],
            |o, now| cells([name(o), json!(len(o, "/secrets")), created(o, now)]),
        ),
        ("", "PersistentVolume") => p(pv_columns(), print_pv),
        ("", "PersistentVolumeClaim") => p(pvc_columns(), print_pvc),
        ("", "Event") | ("events.k8s.io", "Event") => p(event_columns(), print_event),
        ("apps", "Deployment") => p(deployment_columns(), print_deployment),
        ("apps", "ReplicaSet") => p(replicaset_columns(), print_replicaset),
        ("apps", "StatefulSet") => p(
            vec![
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
            |o, now| {
                let (c, i) = containers_images(o);
                let ready = format!("{}/{}", n(o, "/status/readyReplicas"), replicas(o));
                cells([name(o), ready.into(), created(o, now), c.into(), i.into()])
            },
        ),
        ("apps", "DaemonSet") => p(daemonset_columns(), print_daemonset),
        ("batch", "Job") => p(job_columns(), print_job),
        ("batch", "CronJob") => p(cronjob_columns(), print_cronjob),
        ("coordination.k8s.io", "Lease") => p(
            vec![
                NAME,
                Col(
                    "Holder",
                    "string",
                    0,
                    Doc::Field("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity"),
                ),
                AGE,
            ],
            |o, now| {
                cells([
                    name(o),
                    s(o, "/spec/holderIdentity").into(),
                    created(o, now),
                ])
            },
        ),
        _ => None,
    }
}

fn cells<const N: usize>(values: [Value; N]) -> (Vec<Value>, Option<Value>) {
    (values.into(), None)
}

fn s<'v>(o: &'v Value, ptr: &str) -> &'v str {
    o.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn n(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or_default()
}

fn len(o: &Value, ptr: &str) -> usize {
    match o.pointer(ptr) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn arr<'v>(o: &'v Value, ptr: &str) -> &'v [Value] {
    o.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn or_none(text: &str) -> Value {
    if text.is_empty() { "<none>" } else { text }.into()
}

fn name(o: &Value) -> Value {
    s(o, "/metadata/name").into()
}

fn created(o: &Value, now: jiff::Timestamp) -> Value {
    age(o.pointer("/metadata/creationTimestamp"), now).into()
}

/// `spec.replicas` with the API default of 1 when unset.
fn replicas(o: &Value) -> i64 {
    o.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn containers_images(o: &Value) -> (String, String) {
    let containers = arr(o, "/spec/template/spec/containers");
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
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

fn node_columns() -> Vec<Col> {
    let info = "io.k8s.api.core.v1.NodeSystemInfo";
    vec![
        NAME,
        Col("Status", "string", 0, Doc::Text("The status of the node")),
        Col("Roles", "string", 0, Doc::Text("The roles of the node")),
        AGE,
        Col("Version", "string", 0, Doc::Field(info, "kubeletVersion")),
        Col(
            "Internal-IP",
            "string",
            1,
            Doc::Field("io.k8s.api.core.v1.NodeStatus", "addresses"),
        ),
        Col(
            "External-IP",
            "string",
            1,
            Doc::Field("io.k8s.api.core.v1.NodeStatus", "addresses"),
        ),
        Col("OS-Image", "string", 1, Doc::Field(info, "osImage")),
        Col(
            "Kernel-Version",
            "string",
            1,
            Doc::Field(info, "kernelVersion"),
        ),
        Col(
            "Container-Runtime",
            "string",
            1,
            Doc::Field(info, "containerRuntimeVersion"),
        ),
    ]
}

fn print_node(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let mut status: Vec<String> = Vec::new();
    if let Some(c) = arr(o, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == "Ready")
    {
        status.push(if s(c, "/status") == "True" {
            "Ready".to_owned()
        } else {
            "NotReady".to_owned()
        });
    }
    if status.is_empty() {
        status.push("Unknown".to_owned());
    }
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".to_owned());
    }
    let mut roles: Vec<String> = Vec::new();
    if let Some(labels) = o.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_owned());
                }
            } else if k == "kubernetes.io/role"
                && let Some(v) = v.as_str().filter(|v| !v.is_empty())
            {
                roles.push(v.to_owned());
            }
        }
    }
    roles.sort();
    roles.dedup();
    let address = |kind: &str| {
        arr(o, "/status/addresses")
            .iter()
            .find(|a| s(a, "/type") == kind)
            .map(|a| s(a, "/address"))
            .unwrap_or_default()
    };
    let unknown = |ptr: &str| {
        let v = s(o, ptr);
        if v.is_empty() { "<unknown>" } else { v }.to_owned()
    };
    (
        vec![
            name(o),
            status.join(",").into(),
            or_none(&roles.join(",")),
            created(o, now),
            s(o, "/status/nodeInfo/kubeletVersion").into(),
            or_none(address("InternalIP")),
            or_none(address("ExternalIP")),
            unknown("/status/nodeInfo/osImage").into(),
            unknown("/status/nodeInfo/kernelVersion").into(),
            unknown("/status/nodeInfo/containerRuntimeVersion").into(),
        ],
        None,
    )
}

fn service_columns() -> Vec<Col> {
    let spec = "io.k8s.api.core.v1.ServiceSpec";
    vec![
        NAME,
        Col("Type", "string", 0, Doc::Field(spec, "type")),
        Col("Cluster-IP", "string", 0, Doc::Field(spec, "clusterIP")),
        Col("External-IP", "string", 0, Doc::Field(spec, "externalIPs")),
        Col("Port(s)", "string", 0, Doc::Field(spec, "ports")),
        AGE,
        Col("Selector", "string", 1, Doc::Field(spec, "selector")),
    ]
}

fn print_service(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let cluster_ip = arr(o, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let external: Vec<&str> = arr(o, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external_ip = match s(o, "/spec/type") {
        "ClusterIP" | "NodePort" if !external.is_empty() => external.join(","),
        "ClusterIP" | "NodePort" => "<none>".to_owned(),
        "LoadBalancer" => {
            let mut all: Vec<&str> = arr(o, "/status/loadBalancer/ingress")
                .iter()
                .flat_map(|i| [s(i, "/ip"), s(i, "/hostname")])
                .filter(|v| !v.is_empty())
                .collect();
            all.extend(external);
            if all.is_empty() {
                "<pending>".to_owned()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => s(o, "/spec/externalName").to_owned(),
        _ => "<unknown>".to_owned(),
    };
    let ports: Vec<String> = arr(o, "/spec/ports")
        .iter()
        .map(|p| {
            let node_port = n(p, "/nodePort");
            let np = if node_port > 0 {
                format!(":{node_port}")
            } else {
                String::new()
            };
            let protocol = match s(p, "/protocol") {
                "" => "TCP",
                other => other,
            };
            format!("{}{np}/{protocol}", n(p, "/port"))
        })
        .collect();
    (
        vec![
            name(o),
            s(o, "/spec/type").into(),
            cluster_ip.into(),
            external_ip.into(),
            or_none(&ports.join(",")),
            created(o, now),
            format_labels(o.pointer("/spec/selector")).into(),
        ],
        None,
    )
}

/// Up to three `ip:port` endpoints, then ` + N more...`.
fn format_endpoints(o: &Value) -> String {
    let subsets = arr(o, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_owned();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for subset in subsets {
        let addresses = arr(subset, "/addresses");
        let ports = arr(subset, "/ports");
        if ports.is_empty() {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(s(a, "/ip").to_owned());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                let ip = s(a, "/ip");
                let p = n(port, "/port");
                list.push(if ip.contains(':') {
                    format!("[{ip}]:{p}")
                } else {
                    format!("{ip}:{p}")
                });
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(long, _)| has(long))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

fn storage_class(o: &Value) -> String {
    match o
        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .and_then(Value::as_str)
    {
        Some(class) => class.to_owned(),
        None => s(o, "/spec/storageClassName").to_owned(),
    }
}

fn unset(o: &Value, ptr: &str) -> Value {
    match o.pointer(ptr).and_then(Value::as_str) {
        Some(v) if !v.is_empty() => v.into(),
        _ => "<unset>".into(),
    }
}

fn pv_columns() -> Vec<Col> {
    let spec = "io.k8s.api.core.v1.PersistentVolumeSpec";
    vec![
        NAME,
        Col("Capacity", "string", 0, Doc::Field(spec, "capacity")),
        Col("Access Modes", "string", 0, Doc::Field(spec, "accessModes")),
        Col(
            "Reclaim Policy",
            "string",
            0,
            Doc::Field(spec, "persistentVolumeReclaimPolicy"),
        ),
        Col(
            "Status",
            "string",
            0,
            Doc::Field("io.k8s.api.core.v1.PersistentVolumeStatus", "phase"),
        ),
        Col("Claim", "string", 0, Doc::Field(spec, "claimRef")),
        Col(
            "StorageClass",
            "string",
            0,
            Doc::Text("StorageClass of the pv"),
        ),
        Col(
            "VolumeAttributesClass",
            "string",
            0,
            Doc::Text("VolumeAttributesClass of the pv"),
        ),
        Col(
            "Reason",
            "string",
            0,
            Doc::Field("io.k8s.api.core.v1.PersistentVolumeStatus", "reason"),
        ),
        AGE,
        Col("VolumeMode", "string", 1, Doc::Field(spec, "volumeMode")),
    ]
}

fn print_pv(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let claim = match o.pointer("/spec/claimRef") {
        Some(c) => format!("{}/{}", s(c, "/namespace"), s(c, "/name")),
        None => String::new(),
    };
    let phase = if o.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else {
        s(o, "/status/phase")
    };
    (
        vec![
            name(o),
            s(o, "/spec/capacity/storage").into(),
            access_modes(arr(o, "/spec/accessModes")).into(),
            s(o, "/spec/persistentVolumeReclaimPolicy").into(),
            phase.into(),
            claim.into(),
            storage_class(o).into(),
            unset(o, "/spec/volumeAttributesClassName"),
            s(o, "/status/reason").into(),
            created(o, now),
            unset(o, "/spec/volumeMode"),
        ],
        None,
    )
}

fn pvc_columns() -> Vec<Col> {
    let spec = "io.k8s.api.core.v1.PersistentVolumeClaimSpec";
    let status = "io.k8s.api.core.v1.PersistentVolumeClaimStatus";
    vec![
        NAME,
        Col("Status", "string", 0, Doc::Field(status, "phase")),
        Col("Volume", "string", 0, Doc::Field(spec, "volumeName")),
        Col("Capacity", "string", 0, Doc::Field(status, "capacity")),
        Col(
            "Access Modes",
            "string",
            0,
            Doc::Field(status, "accessModes"),
        ),
        Col(
            "StorageClass",
            "string",
            0,
            Doc::Text("StorageClass of the pvc"),
        ),
        Col(
            "VolumeAttributesClass",
            "string",
            0,
            Doc::Text("VolumeAttributesClass of the pvc"),
        ),
        AGE,
        Col("VolumeMode", "string", 1, Doc::Field(spec, "volumeMode")),
    ]
}

fn print_pvc(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let phase = if o.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else {
        s(o, "/status/phase")
    };
    let bound = !s(o, "/spec/volumeName").is_empty();
    let (capacity, modes) = if bound {
        (
            s(o, "/status/capacity/storage").to_owned(),
            access_modes(arr(o, "/status/accessModes")),
        )
    } else {
        (String::new(), String::new())
    };
    (
        vec![
            name(o),
            phase.into(),
            s(o, "/spec/volumeName").into(),
            capacity.into(),
            modes.into(),
            storage_class(o).into(),
            unset(o, "/spec/volumeAttributesClassName"),
            created(o, now),
            unset(o, "/spec/volumeMode"),
        ],
        None,
    )
}

fn event_columns() -> Vec<Col> {
    let ev = "io.k8s.api.core.v1.Event";
    vec![
        Col("Last Seen", "string", 0, Doc::Field(ev, "lastTimestamp")),
        Col("Type", "string", 0, Doc::Field(ev, "type")),
        Col("Reason", "string", 0, Doc::Field(ev, "reason")),
        Col("Object", "string", 0, Doc::Field(ev, "involvedObject")),
        Col(
            "Subobject",
            "string",
            1,
            Doc::Field("io.k8s.api.core.v1.ObjectReference", "fieldPath"),
        ),
        Col("Source", "string", 1, Doc::Field(ev, "source")),
        Col("Message", "string", 0, Doc::Field(ev, "message")),
        Col("First Seen", "string", 1, Doc::Field(ev, "firstTimestamp")),
        Col("Count", "string", 1, Doc::Field(ev, "count")),
        Col("Name", "string", 1, Doc::Field(META, "name")),
    ]
}

/// Prints core/v1 and events.k8s.io/v1 events (the latter through their deprecated fields).
fn print_event(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let pick = |core: &str, events: &str| {
        o.pointer(core)
            .filter(|v| !v.is_null())
            .or_else(|| o.pointer(events))
    };
    let ts = |v: Option<&Value>| match v.and_then(Value::as_str) {
        Some(t) if !t.is_empty() => Some(age(v, now)),
        _ => None,
    };
    let first = ts(pick("/firstTimestamp", "/deprecatedFirstTimestamp"))
        .unwrap_or_else(|| age(o.get("eventTime"), now));
    let mut last = ts(pick("/lastTimestamp", "/deprecatedLastTimestamp")).unwrap_or(first.clone());
    let mut count = pick("/count", "/deprecatedCount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(series) = o.get("series").filter(|v| v.is_object()) {
        last = age(series.get("lastObservedTime"), now);
        count = n(series, "/count");
    } else if count == 0 {
        count = 1;
    }
    let involved = pick("/involvedObject", "/regarding")
        .cloned()
        .unwrap_or_default();
    let kind = s(&involved, "/kind").to_lowercase();
    let target = match s(&involved, "/name") {
        "" => kind,
        obj => format!("{kind}/{obj}"),
    };
    let component = pick("/source/component", "/deprecatedSource/component")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let source = if component.is_empty() {
        join_instance(
            [s(o, "/reportingComponent"), s(o, "/reportingController")]
                .into_iter()
                .find(|v| !v.is_empty())
                .unwrap_or_default(),
            s(o, "/reportingInstance"),
        )
    } else {
        let host = pick("/source/host", "/deprecatedSource/host")
            .and_then(Value::as_str)
            .unwrap_or_default();
        join_instance(component, host)
    };
    let message = pick("/message", "/note")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    (
        vec![
            last.into(),
            s(o, "/type").into(),
            s(o, "/reason").into(),
            target.into(),
            s(&involved, "/fieldPath").into(),
            source.into(),
            message.into(),
            first.into(),
            json!(count),
            name(o),
        ],
        None,
    )
}

fn join_instance(component: &str, instance: &str) -> String {
    if instance.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {instance}")
    }
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
            format_selector(o.pointer("/spec/selector")).into(),
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
            format_selector(o.pointer("/spec/selector")).into(),
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
            format_selector(o.pointer("/spec/jobTemplate/spec/selector")).into(),
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
            format_selector(o.pointer("/spec/selector")).into(),
        ],
        None,
    )
}
