//! Round trips JSON → encode → decode for representative objects of the served kinds. Inputs
//! are written as the server would hold them (Go's JSON of the struct: zero value fields
//! without `omitempty` present, zero `omitempty` ones absent), so the round trip must give them
//! back unchanged. Key order is not compared here (Go prints declaration order and sorted map
//! keys; the kubectl fixtures check that); re-encoding the result must give the same bytes.

use serde_json::{Value, json};

use super::*;

/// Paths where `a` and `b` differ, ignoring object key order.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => differences(&format!("{path}.{k}"), v, w, out),
                    None => out.push(format!("{path}.{k}: only after the round trip: {v}")),
                }
            }
            for (k, w) in y {
                if !x.contains_key(k) {
                    out.push(format!("{path}.{k}: lost in the round trip: {w}"));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), v, w, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} after the round trip, {b} before")),
        _ => {}
    }
}

pub(super) fn round_trip(obj: Value) {
    let kind = obj["kind"].clone();
    let body = encode(&obj).unwrap_or_else(|e| panic!("{kind}: encode: {e}"));
    let back = decode(&body).unwrap_or_else(|e| panic!("{kind}: decode: {e}"));
    let mut diffs = Vec::new();
    differences("", &back, &obj, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{kind} did not survive the round trip:\n{}",
        diffs.join("\n")
    );
    assert_eq!(
        encode(&back).unwrap(),
        body,
        "{kind}: re-encoding is not stable"
    );
}

pub(super) fn meta(name: &str) -> Value {
    json!({
        "name": name,
        "namespace": "ns1",
        "uid": "0c5e1c6e-8e2b-4a3b-9f6b-2f8f3d1e7a10",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2024-05-06T07:08:09Z",
        "labels": {"app": "web", "tier": "fe"},
        "annotations": {"note": "x"},
        "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1",
            "controller": true, "blockOwnerDeletion": false
        }],
        "finalizers": ["f/one"],
        "managedFields": [{
            "manager": "kubectl", "operation": "Update", "apiVersion": "v1",
            "time": "2024-05-06T07:08:09Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
        }]
    })
}

pub(super) fn container() -> Value {
    json!({
        "name": "app",
        "image": "nginx:1.27",
        "command": ["sh", "-c"],
        "args": ["sleep 1"],
        "workingDir": "/w",
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "10.0.0.1"}
        ],
        "envFrom": [{"prefix": "P_", "configMapRef": {"name": "cm", "optional": true}}],
        "env": [
            {"name": "A", "value": "b"},
            {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
        ],
        "resources": {
            "limits": {"cpu": "1500m", "memory": "1Gi", "nvidia.com/gpu": "1"},
            "requests": {"cpu": "250m", "memory": "64Mi"}
        },
        "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
        "volumeMounts": [{"name": "data", "readOnly": true, "mountPath": "/data", "subPath": "x"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
                        "httpHeaders": [{"name": "X", "value": "y"}]},
            "initialDelaySeconds": 5, "timeoutSeconds": 1, "periodSeconds": 10,
            "successThreshold": 1, "failureThreshold": 3, "terminationGracePeriodSeconds": 0
        },
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
        "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30},
        "lifecycle": {"preStop": {"sleep": {"seconds": 3}}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {
            "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
            "privileged": false, "runAsUser": 0, "runAsNonRoot": false,
            "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
            "seccompProfile": {"type": "RuntimeDefault"}
        },
        "stdin": true,
        "tty": true
    })
}

pub(super) fn pod_spec() -> Value {
    json!({
        "volumes": [
            {"name": "data", "emptyDir": {"medium": "Memory", "sizeLimit": "128Mi"}},
            {"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "a", "path": "a.txt", "mode": 420}],
                                          "defaultMode": 420}},
            {"name": "tok", "projected": {"sources": [{"serviceAccountToken": {
                "audience": "api", "expirationSeconds": 3600, "path": "token"}}], "defaultMode": 420}},
            {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}}
        ],
        "initContainers": [{"name": "init", "image": "busybox", "resources": {}}],
        "containers": [container()],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "automountServiceAccountToken": false,
        "nodeName": "node-1",
        "hostNetwork": true,
        "securityContext": {"runAsUser": 1000, "fsGroup": 2000, "supplementalGroups": [1, 2, 3],
                            "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]},
        "imagePullSecrets": [{"name": "reg"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100,
                "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                                    "topologyKey": "kubernetes.io/hostname"}}]}},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}
        ],
        "priorityClassName": "high",
        "priority": 0,
        "dnsConfig": {"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "2"}]},
        "enableServiceLinks": true,
        "preemptionPolicy": "PreemptLowerPriority",
        "overhead": {"cpu": "100m"},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                                       "labelSelector": {"matchLabels": {"app": "web"}}}]
    })
}

#[test]
fn pod_with_everything() {
    round_trip(json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": meta("p1"),
        "spec": pod_spec(),
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null,
                            "lastTransitionTime": "2024-05-06T07:08:10Z"}],
            "hostIP": "10.0.0.1",
            "hostIPs": [{"ip": "10.0.0.1"}],
            "podIP": "10.244.0.5",
            "podIPs": [{"ip": "10.244.0.5"}, {"ip": "fd00::5"}],
            "startTime": "2024-05-06T07:08:09Z",
            "containerStatuses": [{
                "name": "app",
                "state": {"running": {"startedAt": "2024-05-06T07:08:11Z"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                             "startedAt": null, "finishedAt": null}},
                "ready": true, "restartCount": 2, "image": "nginx:1.27", "imageID": "docker://sha",
                "containerID": "containerd://abc", "started": true
            }],
            "qosClass": "Burstable"
        }
    }));
}

/// A Deployment as the server holds it, with a full pod template.
pub(super) fn rich_deployment() -> Value {
    let template = json!({"metadata": {"creationTimestamp": null, "labels": {"app": "web"}}, "spec": pod_spec()});
    json!({
        "kind": "Deployment", "apiVersion": "apps/v1", "metadata": meta("d"),
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"},
                 "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]},
                 "template": template,
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
        "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                   "availableReplicas": 2,
                   "conditions": [{"type": "Available", "status": "True",
                                   "lastUpdateTime": "2024-05-06T07:08:09Z",
                                   "lastTransitionTime": "2024-05-06T07:08:09Z",
                                   "reason": "MinimumReplicasAvailable", "message": "ok"}]}
    })
}

#[test]
fn workloads() {
    let template = json!({"metadata": {"creationTimestamp": null, "labels": {"app": "web"}}, "spec": pod_spec()});
    round_trip(rich_deployment());
    round_trip(json!({
        "kind": "StatefulSet", "apiVersion": "apps/v1", "metadata": meta("s"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template,
                 "volumeClaimTemplates": [{"metadata": {"name": "data", "creationTimestamp": null},
                     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                              "storageClassName": "fast", "volumeMode": "Filesystem"},
                     "status": {}}],
                 "serviceName": "web", "podManagementPolicy": "Parallel",
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}},
                 "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"},
                 "ordinals": {"start": 0}},
        "status": {"replicas": 0, "availableReplicas": 0}
    }));
    round_trip(json!({
        "kind": "DaemonSet", "apiVersion": "apps/v1", "metadata": meta("ds"),
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template,
                 "updateStrategy": {"type": "OnDelete"}, "minReadySeconds": 5},
        "status": {"currentNumberScheduled": 1, "numberMisscheduled": 0, "desiredNumberScheduled": 1,
                   "numberReady": 1}
    }));
    round_trip(json!({
        "kind": "Job", "apiVersion": "batch/v1", "metadata": meta("j"),
        "spec": {"parallelism": 1, "completions": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
                 "suspend": false, "template": template, "ttlSecondsAfterFinished": 0,
                 "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {
                     "operator": "In", "values": [42]}}]}},
        "status": {"startTime": "2024-05-06T07:08:09Z", "active": 1, "uncountedTerminatedPods": {},
                   "ready": 0}
    }));
    round_trip(json!({
        "kind": "CronJob", "apiVersion": "batch/v1", "metadata": meta("cj"),
        "spec": {"schedule": "*/5 * * * *", "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
                 "suspend": true,
                 "jobTemplate": {"metadata": {"creationTimestamp": null}, "spec": {"template": template}},
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1},
        "status": {"lastScheduleTime": "2024-05-06T07:05:00Z"}
    }));
    round_trip(json!({
        "kind": "ControllerRevision", "apiVersion": "apps/v1", "metadata": meta("cr"),
        "data": {"spec": {"template": {"$patch": "replace"}}, "n": [1, 2.5, null, "x"]},
        "revision": 7
    }));
}

#[test]
fn config_and_secrets() {
    round_trip(json!({
        "kind": "Secret", "apiVersion": "v1", "metadata": meta("s"),
        "immutable": true,
        "data": {"bin": "AAEC//4=", "empty": "", "text": "aGVsbG8="},
        "type": "kubernetes.io/tls"
    }));
    round_trip(json!({
        "kind": "ConfigMap", "apiVersion": "v1", "metadata": meta("cm"),
        "data": {"a": "1", "b": "multi\nline", "c": ""},
        "binaryData": {"blob": "3q2+7w=="}
    }));
    round_trip(json!({
        "kind": "ServiceAccount", "apiVersion": "v1", "metadata": meta("sa"),
        "secrets": [{"name": "tok"}], "imagePullSecrets": [{"name": "reg"}],
        "automountServiceAccountToken": false
    }));
}

#[test]
fn networking() {
    round_trip(json!({
        "kind": "Service", "apiVersion": "v1", "metadata": meta("svc"),
        "spec": {
            "ports": [
                {"name": "http", "protocol": "TCP", "appProtocol": "http", "port": 80, "targetPort": 8080,
                 "nodePort": 30080},
                {"name": "named", "protocol": "UDP", "port": 53, "targetPort": "dns"}
            ],
            "selector": {"app": "web"}, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "fd00::a"],
            "type": "NodePort", "externalIPs": ["1.2.3.4"], "sessionAffinity": "ClientIP",
            "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000,
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
            "ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": "PreferDualStack",
            "allocateLoadBalancerNodePorts": true, "internalTrafficPolicy": "Cluster",
            "trafficDistribution": "PreferClose"
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8", "ipMode": "VIP",
                                                 "ports": [{"port": 80, "protocol": "TCP"}]}]}}
    }));
    round_trip(json!({
        "kind": "Endpoints", "apiVersion": "v1", "metadata": meta("svc"),
        "subsets": [{"addresses": [{"ip": "10.244.0.5", "nodeName": "node-1",
                                    "targetRef": {"kind": "Pod", "namespace": "ns1", "name": "p1", "uid": "u"}}],
                     "notReadyAddresses": [{"ip": "10.244.0.6"}],
                     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]
    }));
    round_trip(json!({
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "metadata": meta("es"),
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": true, "serving": true,
                       "terminating": false}, "nodeName": "node-1", "zone": "a",
                       "hints": {"forZones": [{"name": "a"}]}}],
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]
    }));
    round_trip(json!({
        "kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "metadata": meta("ing"),
        "spec": {"ingressClassName": "nginx",
                 "defaultBackend": {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "b"}},
                 "tls": [{"hosts": ["foo.com"], "secretName": "sec"}],
                 "rules": [{"host": "foo.com", "http": {"paths": [
                     {"path": "/bar", "pathType": "Prefix",
                      "backend": {"service": {"name": "svc1", "port": {"number": 8080}}}},
                     {"path": "/x", "pathType": "Exact",
                      "backend": {"service": {"name": "svc2", "port": {"name": "http"}}}}]}}]},
        "status": {"loadBalancer": {}}
    }));
    round_trip(json!({
        "kind": "IngressClass", "apiVersion": "networking.k8s.io/v1", "metadata": meta("ic"),
        "spec": {"controller": "k8s.io/ingress-nginx",
                 "parameters": {"kind": "IngressParameters", "name": "p", "scope": "Namespace", "namespace": "ns1"}}
    }));
    round_trip(json!({
        "kind": "NetworkPolicy", "apiVersion": "networking.k8s.io/v1", "metadata": meta("np"),
        "spec": {"podSelector": {},
                 "ingress": [{"ports": [{"protocol": "TCP", "port": 80}, {"protocol": "TCP", "port": "http", "endPort": 90}],
                              "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                                       {"namespaceSelector": {"matchLabels": {"team": "a"}}}]}],
                 "egress": [{}],
                 "policyTypes": ["Ingress", "Egress"]}
    }));
}

#[test]
fn events_and_leases_keep_micro_time() {
    round_trip(json!({
        "kind": "Event", "apiVersion": "v1", "metadata": meta("e"),
        "involvedObject": {"kind": "Pod", "namespace": "ns1", "name": "p1", "uid": "u",
                           "apiVersion": "v1", "resourceVersion": "1", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled", "message": "pulled", "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2024-05-06T07:08:09Z", "lastTimestamp": "2024-05-06T07:08:10Z", "count": 2,
        "type": "Normal", "eventTime": "2024-05-06T07:08:09.123456Z",
        "series": {"count": 2, "lastObservedTime": "2024-05-06T07:08:10.000001Z"},
        "action": "Pull", "reportingComponent": "kubelet", "reportingInstance": "node-1"
    }));
    round_trip(json!({
        "kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": meta("e2"),
        "eventTime": "2024-05-06T07:08:09.000000Z",
        "reportingController": "c", "reportingInstance": "i", "action": "A", "reason": "R",
        "regarding": {"kind": "Pod", "name": "p1"}, "note": "n", "type": "Warning",
        // A value struct (EventSource) prints even when empty; zero Times print null.
        "deprecatedSource": {}, "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null
    }));
    round_trip(json!({
        "kind": "Lease", "apiVersion": "coordination.k8s.io/v1", "metadata": meta("l"),
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                 "acquireTime": "2024-05-06T07:08:09.500000Z", "renewTime": "2024-05-06T07:08:19.999999Z",
                 "leaseTransitions": 0, "strategy": "OldestEmulationVersion"}
    }));
}
