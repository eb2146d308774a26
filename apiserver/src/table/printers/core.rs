//! Printers of core kinds: nodes, namespaces, services, endpoints, secrets, configmaps, service
//! accounts, pod templates, resource quotas, and leases.

use serde_json::{Value, json};

use super::common::*;
use crate::table::format::format_labels;

/// Upstream's printer for Nodes.
pub fn node() -> Printer {
    Printer {
        columns: node_columns(),
        print: print_node,
    }
}

/// Upstream's printer for Namespaces.
pub fn namespace() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Status",
                "string",
                0,
                Doc::Text("The status of the namespace"),
            ),
            AGE,
        ],
        print: |o, now| cells([name(o), s(o, "/status/phase").into(), created(o, now)]),
    }
}

/// Upstream's printer for Services.
pub fn service() -> Printer {
    Printer {
        columns: service_columns(),
        print: print_service,
    }
}

/// Upstream's printer for Endpoints.
pub fn endpoints() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Endpoints",
                "string",
                0,
                Doc::Field("io.k8s.api.core.v1.Endpoints", "subsets"),
            ),
            AGE,
        ],
        print: |o, now| cells([name(o), format_endpoints(o).into(), created(o, now)]),
    }
}

/// Upstream's printer for Secrets.
pub fn secret() -> Printer {
    Printer {
        columns: vec![
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
        print: |o, now| {
            cells([
                name(o),
                s(o, "/type").into(),
                json!(len(o, "/data")),
                created(o, now),
            ])
        },
    }
}

/// Upstream's printer for ConfigMaps.
pub fn config_map() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Data",
                "string",
                0,
                Doc::Field("io.k8s.api.core.v1.ConfigMap", "data"),
            ),
            AGE,
        ],
        print: |o, now| {
            let n = len(o, "/data") + len(o, "/binaryData");
            cells([name(o), json!(n), created(o, now)])
        },
    }
}

/// Upstream's printer for ServiceAccounts.
pub fn service_account() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Secrets",
                "string",
                0,
                Doc::Field("io.k8s.api.core.v1.ServiceAccount", "secrets"),
            ),
            AGE,
        ],
        print: |o, now| cells([name(o), json!(len(o, "/secrets")), created(o, now)]),
    }
}

/// Upstream's printer for Leases.
pub fn lease() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Holder",
                "string",
                0,
                Doc::Field("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity"),
            ),
            AGE,
        ],
        print: |o, now| {
            cells([
                name(o),
                s(o, "/spec/holderIdentity").into(),
                created(o, now),
            ])
        },
    }
}

/// Upstream's printer for PodTemplates.
pub fn pod_template() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Containers",
                "string",
                0,
                Doc::Text("Names of each container in the template."),
            ),
            Col(
                "Images",
                "string",
                0,
                Doc::Text("Images referenced by each container in the template."),
            ),
            Col(
                "Pod Labels",
                "string",
                0,
                Doc::Text("The labels for the pod template."),
            ),
        ],
        print: |o, _| {
            let containers = arr(o, "/template/spec/containers");
            let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
            let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
            cells([
                name(o),
                names.join(",").into(),
                images.join(",").into(),
                format_labels(o.pointer("/template/metadata/labels")).into(),
            ])
        },
    }
}

/// Upstream's printer for ResourceQuotas: `resource: used/hard` per hard limit, `limits.*` in
/// the Limit column and everything else in Request (v1.33 order: Age last).
pub fn resource_quota() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Request",
                "string",
                0,
                Doc::Text(
                    "Request represents a minimum amount of cpu/memory that a container may consume.",
                ),
            ),
            Col(
                "Limit",
                "string",
                0,
                Doc::Text(
                    "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
                ),
            ),
            AGE,
        ],
        print: |o, now| {
            let (request, limit) = quota_usage(o);
            cells([name(o), request.into(), limit.into(), created(o, now)])
        },
    }
}

/// The Request and Limit cells of a quota, from its status (sorted by resource name).
fn quota_usage(o: &Value) -> (String, String) {
    let mut request: Vec<String> = Vec::new();
    let mut limit: Vec<String> = Vec::new();
    let Some(hard) = o.pointer("/status/hard").and_then(Value::as_object) else {
        return (String::new(), String::new());
    };
    let mut names: Vec<&String> = hard.keys().collect();
    names.sort();
    for resource in names {
        // An unreported usage is a zero quantity, printed as `0`.
        let used = match o
            .pointer("/status/used")
            .and_then(|u| u.get(resource.as_str()))
        {
            Some(v) if !v.is_null() => text(v),
            _ => "0".to_owned(),
        };
        let entry = format!(
            "{resource}: {used}/{}",
            hard.get(resource.as_str()).map(text).unwrap_or_default()
        );
        match resource.split_once('.') {
            Some(("limits", _)) => limit.push(entry),
            _ => request.push(entry),
        }
    }
    (request.join(", "), limit.join(", "))
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
