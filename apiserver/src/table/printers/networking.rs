//! Printers of networking.k8s.io and discovery.k8s.io kinds: ingresses, ingress classes,
//! network policies and endpoint slices.

use std::collections::BTreeSet;

use serde_json::Value;

use super::common::*;
use crate::table::format::format_label_selector;

/// Upstream's printer for Ingresses.
pub fn ingress() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Class",
                "string",
                0,
                Doc::Text(
                    "The name of the IngressClass resource that should be used for additional configuration",
                ),
            ),
            Col(
                "Hosts",
                "string",
                0,
                Doc::Text(
                    "Hosts that incoming requests are matched against before the ingress rule",
                ),
            ),
            Col(
                "Address",
                "string",
                0,
                Doc::Text("Address is a list containing ingress points for the load-balancer"),
            ),
            Col(
                "Ports",
                "string",
                0,
                Doc::Text("Ports of TLS configurations that open"),
            ),
            AGE,
        ],
        print: |o, now| {
            let class = o
                .pointer("/spec/ingressClassName")
                .and_then(Value::as_str)
                .unwrap_or("<none>");
            // Only the TLS section decides the ports: rules cannot name other ports.
            let ports = if arr(o, "/spec/tls").is_empty() {
                "80"
            } else {
                "80, 443"
            };
            cells([
                name(o),
                class.into(),
                ingress_hosts(arr(o, "/spec/rules")).into(),
                load_balancer_addresses(arr(o, "/status/loadBalancer/ingress")).into(),
                ports.into(),
                created(o, now),
            ])
        },
    }
}

/// Upstream's printer for IngressClasses.
pub fn ingress_class() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Controller",
                "string",
                0,
                Doc::Text("Controller that is responsible for handling this class"),
            ),
            Col(
                "Parameters",
                "string",
                0,
                Doc::Text("A reference to a resource with additional parameters"),
            ),
            AGE,
        ],
        print: |o, now| {
            let parameters = match o.pointer("/spec/parameters").filter(|p| p.is_object()) {
                None => "<none>".to_owned(),
                Some(p) => {
                    // A present apiGroup is printed even when empty, as upstream does.
                    let group = match p.get("apiGroup").and_then(Value::as_str) {
                        Some(g) => format!(".{g}"),
                        None => String::new(),
                    };
                    format!("{}{group}/{}", s(p, "/kind"), s(p, "/name"))
                }
            };
            cells([
                name(o),
                s(o, "/spec/controller").into(),
                parameters.into(),
                created(o, now),
            ])
        },
    }
}

/// Upstream's printer for NetworkPolicies.
pub fn network_policy() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Pod-Selector",
                "string",
                0,
                // Upstream's (extensions/v1beta1) wording.
                Doc::Text(
                    "Selects the pods to which this NetworkPolicy object applies.  The array of ingress rules is applied to any pods selected by this field. Multiple network policies can select the same set of pods.  In this case, the ingress rules for each are combined additively. This field is NOT optional and follows standard label selector semantics. An empty podSelector matches all pods in this namespace.",
                ),
            ),
            AGE,
        ],
        print: |o, now| {
            cells([
                name(o),
                format_label_selector(o.pointer("/spec/podSelector")).into(),
                created(o, now),
            ])
        },
    }
}

/// Upstream's printer for EndpointSlices.
pub fn endpoint_slice() -> Printer {
    let slice = "io.k8s.api.discovery.v1.EndpointSlice";
    Printer {
        columns: vec![
            NAME,
            Col("AddressType", "string", 0, Doc::Field(slice, "addressType")),
            Col("Ports", "string", 0, Doc::Field(slice, "ports")),
            Col("Endpoints", "string", 0, Doc::Field(slice, "endpoints")),
            AGE,
        ],
        print: |o, now| {
            let ports = arr(o, "/ports").iter().map(|p| {
                match (p.get("port").and_then(Value::as_i64), p.get("name")) {
                    (Some(port), _) => port.to_string(),
                    (None, Some(Value::String(name))) => name.clone(),
                    _ => "*".to_owned(),
                }
            });
            let addresses = arr(o, "/endpoints")
                .iter()
                .flat_map(|e| arr(e, "/addresses"))
                .map(|a| a.as_str().unwrap_or_default().to_owned());
            cells([
                name(o),
                s(o, "/addressType").into(),
                list_with_more(ports, 3).into(),
                list_with_more(addresses, 3).into(),
                created(o, now),
            ])
        },
    }
}

/// Up to three rule hosts, then ` + N more...` counting the remaining rules; `*` when no rule
/// names a host.
fn ingress_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = s(rule, "/host");
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".to_owned();
    }
    let joined = hosts.join(",");
    if more {
        format!("{joined} + {} more...", rules.len() - MAX)
    } else {
        joined
    }
}

/// The load balancer's IPs (or hostnames when an entry has no IP), sorted and deduplicated;
/// server-side tables are always wide, so the list is not clipped.
fn load_balancer_addresses(ingress: &[Value]) -> String {
    let set: BTreeSet<&str> = ingress
        .iter()
        .map(|i| match s(i, "/ip") {
            "" => s(i, "/hostname"),
            ip => ip,
        })
        .filter(|v| !v.is_empty())
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}
