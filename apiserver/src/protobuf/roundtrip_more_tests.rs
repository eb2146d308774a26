//! Round trips (continued): nodes, volumes, policy, RBAC, reviews, CRDs, every served kind and
//! the list and metadata-only forms (see `roundtrip_tests`).

use serde_json::json;

use super::roundtrip_tests::{meta, round_trip};
use super::*;

#[test]
fn nodes_volumes_and_quotas() {
    round_trip(json!({
        "kind": "Node", "apiVersion": "v1", "metadata": meta("node-1"),
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"], "providerID": "kind://x",
                 "unschedulable": true,
                 "taints": [{"key": "k", "value": "v", "effect": "NoSchedule", "timeAdded": "2024-05-06T07:08:09Z"}]},
        "status": {
            "capacity": {"cpu": "8", "ephemeral-storage": "100Gi", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "7800m", "memory": "31Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2024-05-06T07:08:09Z",
                            "lastTransitionTime": "2024-05-06T07:08:09Z", "reason": "KubeletReady",
                            "message": "ok"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6",
                         "osImage": "Debian", "containerRuntimeVersion": "containerd://2", "kubeletVersion": "v1.33.0",
                         "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
            "images": [{"names": ["nginx:1.27"], "sizeBytes": 12345678}]
        }
    }));
    round_trip(json!({
        "kind": "PersistentVolume", "apiVersion": "v1", "metadata": meta("pv"),
        "spec": {"capacity": {"storage": "10Gi"}, "hostPath": {"path": "/mnt"},
                 "accessModes": ["ReadWriteOnce"],
                 "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "ns1", "name": "c"},
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast", "volumeMode": "Filesystem",
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchFields": [
                     {"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}},
        "status": {"phase": "Bound", "lastPhaseTransitionTime": "2024-05-06T07:08:09Z"}
    }));
    round_trip(json!({
        "kind": "ResourceQuota", "apiVersion": "v1", "metadata": meta("q"),
        "spec": {"hard": {"cpu": "1500m", "memory": "1G", "pods": "2"}, "scopes": ["NotTerminating"],
                 "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In",
                                                         "values": ["high"]}]}},
        "status": {"hard": {"pods": "2"}, "used": {"pods": "0"}}
    }));
    round_trip(json!({
        "kind": "LimitRange", "apiVersion": "v1", "metadata": meta("lr"),
        "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "default": {"cpu": "500m"},
                             "defaultRequest": {"cpu": "100m"}, "maxLimitRequestRatio": {"cpu": "4"}}]}
    }));
    round_trip(json!({
        "kind": "StorageClass", "apiVersion": "storage.k8s.io/v1", "metadata": meta("sc"),
        "provisioner": "csi.example.com", "parameters": {"type": "ssd"}, "reclaimPolicy": "Delete",
        "mountOptions": ["ro"], "allowVolumeExpansion": true, "volumeBindingMode": "WaitForFirstConsumer",
        "allowedTopologies": [{"matchLabelExpressions": [{"key": "zone", "values": ["a"]}]}]
    }));
    round_trip(json!({
        "kind": "CSIDriver", "apiVersion": "storage.k8s.io/v1", "metadata": meta("csi"),
        "spec": {"attachRequired": true, "podInfoOnMount": false, "volumeLifecycleModes": ["Persistent"],
                 "storageCapacity": false, "fsGroupPolicy": "File",
                 "tokenRequests": [{"audience": "a", "expirationSeconds": 600}], "requiresRepublish": false}
    }));
    round_trip(json!({
        "kind": "VolumeAttachment", "apiVersion": "storage.k8s.io/v1", "metadata": meta("va"),
        "spec": {"attacher": "csi.example.com", "source": {"persistentVolumeName": "pv"}, "nodeName": "n1"},
        "status": {"attached": true, "attachmentMetadata": {"dev": "/dev/sdb"},
                   "attachError": {"time": "2024-05-06T07:08:09Z", "message": "m", "errorCode": 5}}
    }));
    round_trip(json!({
        "kind": "CSINode", "apiVersion": "storage.k8s.io/v1", "metadata": meta("n1"),
        "spec": {"drivers": [{"name": "csi.example.com", "nodeID": "n1", "topologyKeys": ["zone"],
                              "allocatable": {"count": 16}}]}
    }));
}

#[test]
fn policy_rbac_scheduling_autoscaling() {
    round_trip(json!({
        "kind": "PodDisruptionBudget", "apiVersion": "policy/v1", "metadata": meta("pdb"),
        "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}},
                 "unhealthyPodEvictionPolicy": "AlwaysAllow"},
        "status": {"disruptedPods": {"p1": "2024-05-06T07:08:09Z"}, "disruptionsAllowed": 1,
                   "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 2}
    }));
    round_trip(json!({
        "kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta("cr"),
        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
                  {"verbs": ["get"], "nonResourceURLs": ["/logs/*"]}],
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "true"}}]}
    }));
    round_trip(json!({
        "kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta("rb"),
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                     {"kind": "ServiceAccount", "name": "robot", "namespace": "default"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
    }));
    round_trip(json!({
        "kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1", "metadata": meta("pc"),
        "value": -5, "globalDefault": true, "description": "d", "preemptionPolicy": "Never"
    }));
    round_trip(json!({
        "kind": "RuntimeClass", "apiVersion": "node.k8s.io/v1", "metadata": meta("rc"),
        "handler": "runc", "overhead": {"podFixed": {"memory": "120Mi"}},
        "scheduling": {"nodeSelector": {"a": "b"}, "tolerations": [{"key": "k", "operator": "Equal", "value": "v"}]}
    }));
    round_trip(json!({
        "kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2", "metadata": meta("hpa"),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d", "apiVersion": "apps/v1"},
                 "minReplicas": 1, "maxReplicas": 5,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": 80}}},
                             {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {
                                 "type": "AverageValue", "averageValue": "1k"}}}],
                 "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                     "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}},
        "status": {"lastScaleTime": "2024-05-06T07:08:09Z", "currentReplicas": 2, "desiredReplicas": 2,
                   "currentMetrics": null}
    }));
    round_trip(json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta("d"),
        "spec": {"replicas": 5}, "status": {"replicas": 2, "selector": "app=web"}
    }));
}

#[test]
fn subresource_and_review_kinds() {
    round_trip(json!({
        "kind": "Binding", "apiVersion": "v1", "metadata": meta("p1"),
        "target": {"kind": "Node", "name": "node-1"}
    }));
    round_trip(json!({
        "kind": "Eviction", "apiVersion": "policy/v1", "metadata": meta("p1"),
        "deleteOptions": {"gracePeriodSeconds": 0, "preconditions": {"uid": "u", "resourceVersion": "1"},
                          "propagationPolicy": "Foreground", "dryRun": ["All"]}
    }));
    round_trip(json!({
        "kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1",
        "gracePeriodSeconds": 30, "orphanDependents": false, "ignoreStoreReadErrorWithClusterBreakingPotential": true
    }));
    round_trip(json!({
        "kind": "DeleteOptions", "apiVersion": "apps/v1", "propagationPolicy": "Background"
    }));
    round_trip(json!({
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": meta("sa"),
        "spec": {"audiences": ["api"], "expirationSeconds": 3600,
                 "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p1", "uid": "u"}},
        "status": {"token": "t", "expirationTimestamp": "2024-05-06T08:08:09Z"}
    }));
    round_trip(json!({
        "kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {"resourceAttributes": {"namespace": "ns1", "verb": "get", "resource": "pods",
                                        "fieldSelector": {"requirements": [{"key": "spec.nodeName",
                                                          "operator": "In", "values": ["n1"]}]}},
                 "user": "alice", "groups": ["devs"], "extra": {"scopes": ["a", "b"], "empty": null}, "uid": "1"},
        "status": {"allowed": true, "reason": "rbac"}
    }));
    round_trip(json!({
        "kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {"token": "t", "audiences": ["api"]},
        "status": {"authenticated": true, "user": {"username": "u", "uid": "1", "groups": ["g"],
                                                    "extra": {"k": ["v"]}}, "audiences": ["api"]}
    }));
    round_trip(json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {"resourceVersion": "5"},
        "status": "Failure", "message": "nope", "reason": "NotFound",
        "details": {"name": "p1", "kind": "pods", "causes": [{"reason": "FieldValueInvalid", "field": "x"}]},
        "code": 404
    }));
}

#[test]
fn crd_with_json_schema_props() {
    let schema = json!({
        "type": "object",
        "description": "root",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer", "format": "int32", "default": 1, "minimum": 0,
                                 "maximum": 10.5, "exclusiveMaximum": true, "multipleOf": 0.5},
                    "mode": {"type": "string", "enum": ["a", "b", null], "pattern": "^[a-z]+$",
                             "maxLength": 10, "example": "a"},
                    "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                               "default": {"nested": [1, {"a": true}]}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "closed": {"type": "object", "additionalProperties": false},
                    "items": {"type": "array", "items": {"type": "object", "required": ["name"],
                              "properties": {"name": {"type": "string"}}},
                              "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                              "maxItems": 5},
                    "tuple": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
                    "embedded": {"type": "object", "x-kubernetes-embedded-resource": true,
                                 "x-kubernetes-preserve-unknown-fields": true},
                    "dep": {"type": "object", "dependencies": {"a": ["b", "c"], "d": {"required": ["e"]}}},
                    "nullableObj": {"type": "object", "nullable": true, "x-kubernetes-map-type": "atomic"}
                },
                "x-kubernetes-validations": [
                    {"rule": "self.replicas <= 10", "message": "too many", "reason": "FieldValueForbidden",
                     "fieldPath": ".replicas", "optionalOldSelf": true},
                    {"rule": "true", "messageExpression": "'x'"}
                ]
            }
        }
    });
    round_trip(json!({
        "kind": "CustomResourceDefinition", "apiVersion": "apiextensions.k8s.io/v1",
        "metadata": meta("widgets.example.com"),
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "shortNames": ["wd"], "kind": "Widget",
                      "listKind": "WidgetList", "categories": ["all"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true, "deprecated": true,
                "deprecationWarning": "use v2",
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                 "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.sel"}},
                "additionalPrinterColumns": [{"name": "Mode", "type": "string", "jsonPath": ".spec.mode",
                                              "priority": 1}],
                "selectableFields": [{"jsonPath": ".spec.mode"}]
            }],
            "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {
                "service": {"namespace": "ns1", "name": "conv", "path": "/convert", "port": 443},
                "caBundle": "Y2E="}, "conversionReviewVersions": ["v1"]}}
            // preserveUnknownFields: false is absent: a Go bool with omitempty.
        },
        "status": {
            "conditions": [{"type": "Established", "status": "True",
                            "lastTransitionTime": "2024-05-06T07:08:09Z", "reason": "InitialNamesAccepted",
                            "message": "ok"}],
            "acceptedNames": {"plural": "widgets", "kind": "Widget"},
            "storedVersions": ["v1"]
        }
    }));
}

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

#[test]
fn every_served_kind_and_its_list_round_trip() {
    // The *Options kinds of proxy/exec/attach subresources are query parameters, not bodies.
    let mut kinds = Vec::new();
    for r in crate::registry::builtin_resources(&crate::registry::Shared::detached()) {
        let gv = api_version(&r.group, &r.version);
        kinds.push((gv.clone(), r.kind.clone()));
        if r.verbs.contains(&"list") {
            kinds.push((gv.clone(), format!("{}List", r.kind)));
        }
        for s in &r.subresources {
            if s.kind.is_empty() || s.kind.ends_with("Options") {
                continue;
            }
            let sgv = if s.group.is_empty() && s.version.is_empty() {
                gv.clone()
            } else {
                api_version(s.group, s.version)
            };
            kinds.push((sgv, s.kind.to_string()));
        }
        kinds.push((gv, "DeleteOptions".to_string()));
    }
    kinds.push(("meta.k8s.io/v1".into(), "DeleteOptions".into()));
    assert!(kinds.len() > 80, "{}", kinds.len());
    for (gv, kind) in kinds {
        let obj = if kind.ends_with("List") {
            json!({"kind": kind, "apiVersion": gv, "metadata": {"resourceVersion": "7"}, "items": []})
        } else {
            json!({"kind": kind, "apiVersion": gv})
        };
        let body = encode(&obj).unwrap_or_else(|e| panic!("{gv} {kind}: {e}"));
        let back = decode(&body).unwrap_or_else(|e| panic!("{gv} {kind}: {e}"));
        assert_eq!(
            (&back["apiVersion"], &back["kind"]),
            (&obj["apiVersion"], &obj["kind"])
        );
        assert_eq!(encode(&back).unwrap(), body, "{gv} {kind}");
    }
}

#[test]
fn lists_for_responses() {
    // Items carry no kind/apiVersion (their TypeMeta is empty inside a list).
    round_trip(json!({
        "kind": "ConfigMapList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "9", "continue": "abc", "remainingItemCount": 0},
        "items": [
            {"metadata": {"name": "a", "creationTimestamp": "2024-05-06T07:08:09Z"}, "data": {"k": "v"}},
            {"metadata": {"name": "b", "creationTimestamp": null}}
        ]
    }));
    // A kind-less `v1 List` holds RawExtension items: any JSON, kept as is.
    round_trip(json!({
        "kind": "List", "apiVersion": "v1", "metadata": {},
        "items": [{"kind": "Widget", "apiVersion": "example.com/v1", "spec": {"x": [1, 2]}}]
    }));
}

#[test]
fn partial_object_metadata_for_metadata_clients() {
    round_trip(json!({
        "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "3"},
        "items": [{"metadata": meta("p1")}]
    }));
}

#[test]
fn api_services() {
    round_trip(json!({
        "kind": "APIService", "apiVersion": "apiregistration.k8s.io/v1",
        "metadata": {"name": "v1alpha1.wardle.example.com", "creationTimestamp": "2024-05-06T07:08:09Z"},
        "spec": {"service": {"namespace": "default", "name": "api", "port": 7443},
            "group": "wardle.example.com", "version": "v1alpha1", "insecureSkipTLSVerify": true,
            "groupPriorityMinimum": 2000, "versionPriority": 200},
        "status": {"conditions": [{"type": "Available", "status": "False",
            "lastTransitionTime": "2024-05-06T07:08:09Z", "reason": "MissingEndpoints", "message": "m"}]}
    }));
}
