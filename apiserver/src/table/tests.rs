use serde_json::{Value, json};

use super::format::{format_selector, human_duration, json_path_first};
use super::*;

/// The convertor of a built-in kind, as the server registers it.
fn builtin(group: &str, kind: &str) -> TableConvertor {
    let printer = crate::registry::builtin_resources(&crate::registry::Shared::detached())
        .into_iter()
        .find(|d| d.group == group && d.kind == kind)
        .and_then(|d| d.printer);
    TableConvertor::builtin(printer.map(|p| p()))
}

fn now() -> jiff::Timestamp {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

fn cells(group: &str, kind: &str, obj: Value) -> Vec<Value> {
    let table =
        builtin(group, kind).to_table(&[obj], &json!({}), IncludeObject::None, false, now());
    table["rows"][0]["cells"].as_array().unwrap().clone()
}

#[test]
fn human_durations_match_upstream() {
    for (secs, want) in [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (302, "5m2s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400, "8y"),
    ] {
        assert_eq!(human_duration(secs), want, "{secs}");
    }
}

fn pod(status: Value) -> Value {
    json!({
        "metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:55:00Z"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
        "status": status
    })
}

#[test]
fn pod_rows() {
    let running = pod(json!({
        "phase": "Running", "podIPs": [{"ip": "10.0.0.5"}],
        "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "b", "ready": true, "restartCount": 3, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T11:58:00Z"}}}
        ]
    }));
    assert_eq!(
        cells("", "Pod", running),
        json!([
            "web",
            "2/2",
            "Running",
            "3 (2m ago)",
            "5m",
            "10.0.0.5",
            "n1",
            "<none>",
            "<none>"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    let creating = pod(json!({"phase": "Pending", "containerStatuses": [
        {"name": "a", "ready": false, "restartCount": 0,
         "state": {"waiting": {"reason": "ContainerCreating"}}},
        {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {}}}
    ]}));
    let c = cells("", "Pod", creating);
    assert_eq!(c[1], "0/2");
    assert_eq!(c[2], "ContainerCreating");
    assert_eq!(c[5], "<none>");
    let done = pod(json!({"phase": "Succeeded", "containerStatuses": [
        {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    ]}));
    let table = builtin("", "Pod").to_table(&[done], &json!({}), IncludeObject::None, false, now());
    assert_eq!(table["rows"][0]["cells"][2], "Completed");
    assert_eq!(table["rows"][0]["conditions"][0]["type"], "Completed");
    let mut terminating = pod(json!({"phase": "Running"}));
    terminating["metadata"]["deletionTimestamp"] = json!("2024-05-01T11:59:00Z");
    assert_eq!(cells("", "Pod", terminating)[2], "Terminating");
    let mut init = pod(json!({"phase": "Pending", "initContainerStatuses": [
        {"name": "setup", "state": {"waiting": {"reason": "PodInitializing"}}}
    ]}));
    init["spec"]["initContainers"] = json!([{"name": "setup"}]);
    assert_eq!(cells("", "Pod", init)[2], "Init:0/1");
    let mut gated = pod(json!({"phase": "Pending", "conditions": [
        {"type": "gate", "status": "True"}]}));
    gated["spec"]["readinessGates"] = json!([{"conditionType": "gate"}, {"conditionType": "x"}]);
    assert_eq!(cells("", "Pod", gated)[8], "1/2");
}

#[test]
fn pod_columns_and_include_object() {
    let conv = builtin("", "Pod");
    let names: Vec<&str> = conv
        .column_definitions()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    let name_col = &conv.column_definitions()[0];
    assert_eq!(name_col["format"], "name");
    assert!(
        name_col["description"]
            .as_str()
            .unwrap()
            .starts_with("Name must be unique")
    );
    assert_eq!(conv.column_definitions()[5]["priority"], 1);
    let obj = pod(json!({}));
    let table = conv.to_table(
        std::slice::from_ref(&obj),
        &json!({"resourceVersion": "42", "continue": "abc"}),
        IncludeObject::Metadata,
        false,
        now(),
    );
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        table["metadata"],
        json!({"resourceVersion": "42", "continue": "abc"})
    );
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(table["rows"][0]["object"]["metadata"]["name"], "web");
    let table = conv.to_table(
        std::slice::from_ref(&obj),
        &json!({}),
        IncludeObject::Object,
        true,
        now(),
    );
    assert!(table.get("columnDefinitions").is_none());
    assert_eq!(table["rows"][0]["object"], obj);
    assert!(IncludeObject::from_query(Some("Everything")).is_err());
}

#[test]
fn node_service_deployment_rows() {
    let node = json!({
        "metadata": {"name": "n1", "creationTimestamp": "2024-04-28T12:00:00Z",
                     "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": ""}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}],
                   "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian"}}
    });
    assert_eq!(
        cells("", "Node", node),
        json!([
            "n1",
            "Ready,SchedulingDisabled",
            "control-plane,worker",
            "3d",
            "v1.33.0",
            "192.168.1.2",
            "<none>",
            "Debian",
            "<unknown>",
            "<unknown>"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    let svc = json!({
        "metadata": {"name": "s", "creationTimestamp": "2024-05-01T10:00:00Z"},
        "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10"], "selector": {"app": "x"},
                 "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}
    });
    assert_eq!(
        cells("", "Service", svc),
        json!([
            "s",
            "NodePort",
            "10.96.0.10",
            "<none>",
            "80:30080/TCP,53/UDP",
            "120m",
            "app=x"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer"}});
    assert_eq!(cells("", "Service", lb)[3], "<pending>");
    let deploy = json!({
        "metadata": {"name": "d", "creationTimestamp": "2024-05-01T11:59:30Z"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    assert_eq!(
        cells("apps", "Deployment", deploy),
        json!(["d", "2/3", 3, 2, "30s", "c", "nginx", "app=d"])
            .as_array()
            .unwrap()
            .clone()
    );
}

#[test]
fn small_kinds() {
    let secret = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "", "b": ""}});
    assert_eq!(
        cells("", "Secret", secret),
        vec![json!("s"), json!("Opaque"), json!(2), json!("<unknown>")]
    );
    let cm = json!({"metadata": {"name": "c"}, "data": {"a": ""}, "binaryData": {"b": ""}});
    assert_eq!(cells("", "ConfigMap", cm)[1], 2);
    let ep = json!({"metadata": {"name": "e"}, "subsets": [{
        "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
        "ports": [{"port": 80}, {"port": 443}]}]});
    assert_eq!(
        cells("", "Endpoints", ep)[1],
        "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
    );
    let pvc = json!({"metadata": {"name": "p"}, "spec": {"volumeName": "pv1"},
                     "status": {"phase": "Bound", "capacity": {"storage": "1Gi"},
                                "accessModes": ["ReadWriteOnce"]}});
    assert_eq!(
        cells("", "PersistentVolumeClaim", pvc)[1..5].to_vec(),
        vec![json!("Bound"), json!("pv1"), json!("1Gi"), json!("RWO")]
    );
    let event = json!({"metadata": {"name": "ev"}, "type": "Normal", "reason": "Scheduled",
        "involvedObject": {"kind": "Pod", "name": "web"}, "message": " assigned ",
        "source": {"component": "default-scheduler"},
        "lastTimestamp": "2024-05-01T11:59:00Z", "firstTimestamp": "2024-05-01T11:50:00Z", "count": 2});
    assert_eq!(
        cells("", "Event", event),
        json!([
            "60s",
            "Normal",
            "Scheduled",
            "pod/web",
            "",
            "default-scheduler",
            "assigned",
            "10m",
            2,
            "ev"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    let lease = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}});
    assert_eq!(cells("coordination.k8s.io", "Lease", lease)[1], "me");
}

#[test]
fn default_and_crd_convertors() {
    let role = json!({"metadata": {"name": "r", "creationTimestamp": "2024-05-01T10:00:00Z"}});
    let conv = builtin("rbac.authorization.k8s.io", "Role");
    assert_eq!(conv.column_definitions()[1]["name"], "Created At");
    assert_eq!(conv.column_definitions()[1]["type"], "date");
    let table = conv.to_table(&[role], &json!({}), IncludeObject::None, false, now());
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["r", "2024-05-01T10:00:00Z"])
    );

    let columns = json!([
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
        {"name": "Since", "type": "date", "jsonPath": ".status.since", "priority": 1},
        {"name": "Missing", "type": "string", "jsonPath": ".spec.nothing"}
    ]);
    let conv = TableConvertor::crd(Some(&columns)).unwrap();
    assert_eq!(conv.column_definitions().len(), 5);
    assert_eq!(conv.column_definitions()[3]["priority"], 1);
    let widget = json!({"metadata": {"name": "w"}, "spec": {"replicas": 2},
        "status": {"since": "2024-05-01T11:00:00Z",
                   "conditions": [{"type": "Other", "status": "False"}, {"type": "Ready", "status": "True"}]}});
    let table = conv.to_table(&[widget], &json!({}), IncludeObject::None, false, now());
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["w", 2, "True", "60m", null])
    );
    let conv = TableConvertor::crd(None).unwrap();
    assert_eq!(conv.column_definitions()[1]["name"], "Age");
    assert!(TableConvertor::crd(Some(&json!({"a": 1}))).is_err());
}

#[test]
fn selectors_and_json_paths() {
    let sel = json!({"matchLabels": {"b": "2", "a": "1"},
                     "matchExpressions": [{"key": "c", "operator": "In", "values": ["y", "x"]},
                                          {"key": "d", "operator": "DoesNotExist"}]});
    assert_eq!(format_selector(Some(&sel)), "a=1,b=2,c in (x,y),!d");
    let v = json!({"a": {"b": [{"c": 1}, {"c": 2}]}});
    assert_eq!(json_path_first(&v, ".a.b[1].c"), Some(&json!(2)));
    assert_eq!(json_path_first(&v, "{.a.b[*].c}"), Some(&json!(1)));
    assert_eq!(json_path_first(&v, ".a.b[-1].c"), Some(&json!(2)));
    assert_eq!(json_path_first(&v, ".a.x"), None);
}
