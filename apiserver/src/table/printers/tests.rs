//! Cell formatting of the printers whose upstream rules are easy to get wrong.

use serde_json::{Value, json};

use super::autoscaling::hpa_metrics;
use super::common::{Printer, list_with_more};
use super::{
    controller_revision, csi_driver, endpoint_slice, ingress, ingress_class, network_policy,
    pod_disruption_budget, replica_set, resource_quota, role_binding, storage_class,
};

fn now() -> jiff::Timestamp {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

/// The cells `printer` produces for `obj` (created 5m12s before `now`).
fn row(printer: fn() -> Printer, mut obj: Value) -> Vec<Value> {
    obj["metadata"]["name"] = json!("x");
    obj["metadata"]["creationTimestamp"] = json!("2024-05-01T11:54:48Z");
    let p = printer();
    let (cells, _) = (p.print)(&obj, now());
    assert_eq!(cells.len(), p.columns.len());
    cells
}

#[test]
fn lists_show_three_then_count_the_rest() {
    let items = |n: usize| (0..n).map(|i| i.to_string());
    assert_eq!(list_with_more(items(0), 3), "<unset>");
    assert_eq!(list_with_more(items(3), 3), "0,1,2");
    assert_eq!(list_with_more(items(5), 3), "0,1,2 + 2 more...");
}

#[test]
fn endpoint_slices_print_ports_and_addresses() {
    let cells = row(
        endpoint_slice,
        json!({
            "addressType": "IPv4",
            "ports": [{"port": 80}, {"name": "dns"}, {}, {"port": 9}],
            "endpoints": [{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3"]}],
        }),
    );
    assert_eq!(cells[1], "IPv4");
    assert_eq!(cells[2], "80,dns,* + 1 more...");
    assert_eq!(cells[3], "10.0.0.1,10.0.0.2,10.0.0.3");
    assert_eq!(cells[4], "5m12s");
    let empty = row(endpoint_slice, json!({"addressType": "IPv6"}));
    assert_eq!(empty[2], "<unset>");
    assert_eq!(empty[3], "<unset>");
}

#[test]
fn ingress_hosts_count_remaining_rules() {
    let rules: Vec<Value> = ["a", "", "b", "c", "d"]
        .iter()
        .map(|h| json!({"host": h}))
        .collect();
    let cells = row(
        ingress,
        json!({"spec": {"rules": rules, "tls": [{}]},
               "status": {"loadBalancer": {"ingress": [{"ip": "2.2.2.2"}, {"hostname": "lb"}, {"ip": "1.1.1.1", "hostname": "x"}]}}}),
    );
    assert_eq!(cells[1], "<none>");
    // The fourth rule fills the list; the count is of rules, not hosts.
    assert_eq!(cells[2], "a,b,c + 2 more...");
    assert_eq!(cells[3], "1.1.1.1,2.2.2.2,lb");
    assert_eq!(cells[4], "80, 443");
    let bare = row(ingress, json!({"spec": {"ingressClassName": "nginx"}}));
    assert_eq!(
        bare[1..5],
        [json!("nginx"), json!("*"), json!(""), json!("80")]
    );
}

#[test]
fn ingress_class_parameters() {
    let p = |params: Value| row(ingress_class, json!({"spec": {"parameters": params}}))[2].clone();
    assert_eq!(
        p(json!({"apiGroup": "k8s.example.com", "kind": "Params", "name": "p"})),
        "Params.k8s.example.com/p"
    );
    assert_eq!(p(json!({"kind": "ConfigMap", "name": "c"})), "ConfigMap/c");
    assert_eq!(row(ingress_class, json!({"spec": {}}))[2], "<none>");
}

#[test]
fn selectors_print_none_when_empty() {
    let cells = row(network_policy, json!({"spec": {"podSelector": {}}}));
    assert_eq!(cells[1], "<none>");
    let cells = row(
        network_policy,
        json!({"spec": {"podSelector": {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}}}),
    );
    assert_eq!(cells[1], "app=web,tier in (a,b)");
    let rs = row(replica_set, json!({"spec": {"selector": {}}}));
    assert_eq!(rs[7], "<none>");
}

#[test]
fn pdb_bounds_are_int_or_string() {
    let cells = row(
        pod_disruption_budget,
        json!({"spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}}),
    );
    assert_eq!(cells[1..4], [json!("2"), json!("N/A"), json!(1)]);
    let cells = row(
        pod_disruption_budget,
        json!({"spec": {"maxUnavailable": "25%"}}),
    );
    assert_eq!(cells[1..4], [json!("N/A"), json!("25%"), json!(0)]);
}

#[test]
fn resource_quota_splits_requests_and_limits() {
    let cells = row(
        resource_quota,
        json!({"status": {
            "hard": {"pods": "10", "limits.memory": "2Gi", "requests.cpu": "1", "limits.cpu": "2"},
            "used": {"pods": "3", "limits.cpu": "500m"},
        }}),
    );
    assert_eq!(cells[1], "pods: 3/10, requests.cpu: 0/1");
    assert_eq!(cells[2], "limits.cpu: 500m/2, limits.memory: 0/2Gi");
    assert_eq!(cells[3], "5m12s");
    assert_eq!(row(resource_quota, json!({}))[1], "");
}

#[test]
fn bindings_print_role_and_subjects() {
    let cells = row(
        role_binding,
        json!({"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [
            {"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "namespace": "ns", "name": "sa"},
        ]}),
    );
    assert_eq!(cells[1], "ClusterRole/view");
    assert_eq!(
        cells[3..],
        [json!("alice, bob"), json!("devs"), json!("ns/sa")]
    );
}

#[test]
fn storage_class_defaults_and_marker() {
    let cells = row(
        storage_class,
        json!({"metadata": {"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
               "provisioner": "example.com/p"}),
    );
    assert_eq!(
        cells[..5],
        [
            json!("x (default)"),
            json!("example.com/p"),
            json!("Delete"),
            json!("Immediate"),
            json!(false)
        ]
    );
}

#[test]
fn csi_driver_defaults() {
    let cells = row(csi_driver, json!({"spec": {}}));
    assert_eq!(
        cells[1..7],
        [
            json!(true),
            json!(false),
            json!(false),
            json!("<unset>"),
            json!(false),
            json!("<none>")
        ]
    );
    let cells = row(
        csi_driver,
        json!({"spec": {"tokenRequests": [{"audience": "a"}, {"audience": "b"}],
                        "volumeLifecycleModes": ["Persistent", "Ephemeral"]}}),
    );
    assert_eq!(cells[4], "a,b");
    assert_eq!(cells[6], "Persistent,Ephemeral");
}

#[test]
fn controller_revision_names_its_controller() {
    let owner = |api: &str, kind: &str| {
        json!({"metadata": {"ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "other"},
            {"apiVersion": api, "kind": kind, "name": "web", "controller": true},
        ]}, "revision": 3})
    };
    let cells = row(controller_revision, owner("apps/v1", "StatefulSet"));
    assert_eq!(cells[1..3], [json!("statefulset.apps/web"), json!(3)]);
    assert_eq!(row(controller_revision, owner("v1", "Pod"))[1], "pod/web");
    assert_eq!(row(controller_revision, json!({}))[1], "<none>");
}

#[test]
fn hpa_targets_follow_upstream() {
    let specs = [
        json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}),
        json!({"type": "Pods", "pods": {"target": {"averageValue": "1k"}}}),
        json!({"type": "External", "external": {"target": {"averageValue": "30"}}}),
    ];
    assert_eq!(hpa_metrics(&[], &[]), "<none>");
    assert_eq!(hpa_metrics(&specs[..1], &[]), "cpu: <unknown>/50%");
    let statuses = [
        json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}),
        json!({"type": "Pods", "pods": {"current": {"averageValue": "250"}}}),
    ];
    assert_eq!(
        hpa_metrics(&specs, &statuses),
        "cpu: 12%/50%, 250/1k + 1 more..."
    );
    let by_value = json!({"type": "ContainerResource", "containerResource": {"name": "memory", "container": "app", "target": {"averageValue": "1Gi"}}});
    assert_eq!(hpa_metrics(&[by_value], &[]), "memory: <unknown>/1Gi");
    assert_eq!(
        hpa_metrics(
            &[json!({"type": "Object", "object": {"target": {"value": "5"}}})],
            &[]
        ),
        "<unknown>/5"
    );
    assert_eq!(
        hpa_metrics(&[json!({"type": "Foo"})], &[]),
        "<unknown type>"
    );
}
