//! The built-in resources the server serves (Kubernetes v1.33 names, scopes and verbs).

use super::{ResourceDef, STANDARD_VERBS, Subresource};

const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
const CREATE: &[&str] = &["create"];
const GET: &[&str] = &["get"];
const PROXY: &[&str] = &["create", "delete", "get", "patch", "update"];
const STREAM: &[&str] = &["create", "get"];

fn status() -> Subresource {
    Subresource {
        name: "status",
        kind: "",
        group: "",
        version: "",
        verbs: GET_PATCH_UPDATE,
    }
}

fn scale() -> Subresource {
    Subresource {
        name: "scale",
        kind: "Scale",
        group: "autoscaling",
        version: "v1",
        verbs: GET_PATCH_UPDATE,
    }
}

fn sub(name: &'static str, kind: &'static str, verbs: &'static [&'static str]) -> Subresource {
    Subresource {
        name,
        kind,
        group: "",
        version: "",
        verbs,
    }
}

/// A terse constructor: `def(group, version, plural, singular, kind, namespaced, short names)`.
fn def(
    group: &str,
    version: &str,
    resource: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
) -> ResourceDef {
    ResourceDef {
        group: group.to_string(),
        version: version.to_string(),
        resource: resource.to_string(),
        singular: kind.to_ascii_lowercase(),
        kind: kind.to_string(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        verbs: STANDARD_VERBS.to_vec(),
        subresources: Vec::new(),
        storage: format!("{group}/{resource}"),
        fields: Vec::new(),
        has_status: false,
        generation: false,
        crd: None,
    }
}

impl ResourceDef {
    fn with_status(mut self) -> Self {
        self.has_status = true;
        self.subresources.push(status());
        self
    }
    fn with_sub(mut self, s: Subresource) -> Self {
        self.subresources.push(s);
        self
    }
    fn with_generation(mut self) -> Self {
        self.generation = true;
        self
    }
    fn with_fields(mut self, fields: &[&'static str]) -> Self {
        self.fields = fields.iter().map(|f| f.to_string()).collect();
        self
    }
    fn in_all(mut self) -> Self {
        self.categories = vec!["all".to_string()];
        self
    }
    fn with_verbs(mut self, verbs: &[&'static str]) -> Self {
        self.verbs = verbs.to_vec();
        self
    }
    fn stored_as(mut self, storage: &str) -> Self {
        self.storage = storage.to_string();
        self
    }
}

/// Every built-in resource, core group first, in upstream's discovery order.
pub fn builtin_resources() -> Vec<ResourceDef> {
    let mut v = core();
    v.extend(named_groups());
    v
}

fn core() -> Vec<ResourceDef> {
    let c = |r: &str, k: &str, ns: bool, short: &[&str]| def("", "v1", r, k, ns, short);
    vec![
        c("bindings", "Binding", true, &[]).with_verbs(CREATE),
        c("configmaps", "ConfigMap", true, &["cm"]),
        c("endpoints", "Endpoints", true, &["ep"]),
        c("events", "Event", true, &["ev"]).with_fields(&[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]),
        c("limitranges", "LimitRange", true, &["limits"]),
        c("namespaces", "Namespace", false, &["ns"])
            .with_status()
            .with_sub(sub("finalize", "Namespace", &["update"]))
            .with_fields(&["status.phase"])
            .with_verbs(&[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ]),
        c("nodes", "Node", false, &["no"])
            .with_status()
            .with_sub(sub("proxy", "NodeProxyOptions", PROXY))
            .with_fields(&["spec.unschedulable"]),
        c(
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            true,
            &["pvc"],
        )
        .with_status(),
        c("persistentvolumes", "PersistentVolume", false, &["pv"]).with_status(),
        c("pods", "Pod", true, &["po"])
            .in_all()
            .with_status()
            .with_sub(sub("attach", "PodAttachOptions", STREAM))
            .with_sub(sub("binding", "Binding", CREATE))
            .with_sub(Subresource {
                name: "eviction",
                kind: "Eviction",
                group: "policy",
                version: "v1",
                verbs: CREATE,
            })
            .with_sub(sub("exec", "PodExecOptions", STREAM))
            .with_sub(sub("log", "Pod", GET))
            .with_sub(sub("portforward", "PodPortForwardOptions", STREAM))
            .with_sub(sub("proxy", "PodProxyOptions", PROXY))
            .with_fields(&[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ]),
        c("podtemplates", "PodTemplate", true, &[]),
        c(
            "replicationcontrollers",
            "ReplicationController",
            true,
            &["rc"],
        )
        .in_all()
        .with_status()
        .with_sub(scale())
        .with_generation()
        .with_fields(&["status.replicas"]),
        c("resourcequotas", "ResourceQuota", true, &["quota"]).with_status(),
        c("secrets", "Secret", true, &[]).with_fields(&["type"]),
        c("serviceaccounts", "ServiceAccount", true, &["sa"]).with_sub(Subresource {
            name: "token",
            kind: "TokenRequest",
            group: "authentication.k8s.io",
            version: "v1",
            verbs: CREATE,
        }),
        c("services", "Service", true, &["svc"])
            .in_all()
            .with_status()
            .with_sub(sub("proxy", "ServiceProxyOptions", PROXY))
            .with_fields(&["spec.clusterIP", "spec.type"]),
    ]
}

fn named_groups() -> Vec<ResourceDef> {
    let apps = |r: &str, k: &str, short: &[&str]| def("apps", "v1", r, k, true, short);
    vec![
        apps("controllerrevisions", "ControllerRevision", &[]),
        apps("daemonsets", "DaemonSet", &["ds"])
            .in_all()
            .with_status()
            .with_generation(),
        apps("deployments", "Deployment", &["deploy"])
            .in_all()
            .with_status()
            .with_sub(scale())
            .with_generation(),
        apps("replicasets", "ReplicaSet", &["rs"])
            .in_all()
            .with_status()
            .with_sub(scale())
            .with_generation()
            .with_fields(&["status.replicas"]),
        apps("statefulsets", "StatefulSet", &["sts"])
            .in_all()
            .with_status()
            .with_sub(scale())
            .with_generation(),
        def("events.k8s.io", "v1", "events", "Event", true, &["ev"])
            .stored_as("/events")
            .with_fields(&[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ]),
        def(
            "authentication.k8s.io",
            "v1",
            "selfsubjectreviews",
            "SelfSubjectReview",
            false,
            &[],
        )
        .with_verbs(CREATE),
        def(
            "authentication.k8s.io",
            "v1",
            "tokenreviews",
            "TokenReview",
            false,
            &[],
        )
        .with_verbs(CREATE),
        def(
            "authorization.k8s.io",
            "v1",
            "localsubjectaccessreviews",
            "LocalSubjectAccessReview",
            true,
            &[],
        )
        .with_verbs(CREATE),
        def(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
            &[],
        )
        .with_verbs(CREATE),
        def(
            "authorization.k8s.io",
            "v1",
            "selfsubjectrulesreviews",
            "SelfSubjectRulesReview",
            false,
            &[],
        )
        .with_verbs(CREATE),
        def(
            "authorization.k8s.io",
            "v1",
            "subjectaccessreviews",
            "SubjectAccessReview",
            false,
            &[],
        )
        .with_verbs(CREATE),
        def(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
            &["hpa"],
        )
        .in_all()
        .with_status(),
        def("batch", "v1", "cronjobs", "CronJob", true, &["cj"])
            .in_all()
            .with_status()
            .with_generation(),
        def("batch", "v1", "jobs", "Job", true, &[])
            .in_all()
            .with_status()
            .with_generation()
            .with_fields(&["status.successful"]),
        def("coordination.k8s.io", "v1", "leases", "Lease", true, &[]),
        def(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "EndpointSlice",
            true,
            &[],
        ),
        def(
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            "IngressClass",
            false,
            &[],
        ),
        def(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "Ingress",
            true,
            &["ing"],
        )
        .with_status()
        .with_generation(),
        def(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            true,
            &["netpol"],
        )
        .with_generation(),
        def(
            "node.k8s.io",
            "v1",
            "runtimeclasses",
            "RuntimeClass",
            false,
            &[],
        ),
        def(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
            &["pdb"],
        )
        .with_status()
        .with_generation(),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            &[],
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
            &[],
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
            &[],
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "Role",
            true,
            &[],
        ),
        def(
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            "PriorityClass",
            false,
            &["pc"],
        ),
        def(
            "storage.k8s.io",
            "v1",
            "csidrivers",
            "CSIDriver",
            false,
            &[],
        ),
        def("storage.k8s.io", "v1", "csinodes", "CSINode", false, &[]),
        def(
            "storage.k8s.io",
            "v1",
            "storageclasses",
            "StorageClass",
            false,
            &["sc"],
        ),
        def(
            "storage.k8s.io",
            "v1",
            "volumeattachments",
            "VolumeAttachment",
            false,
            &[],
        )
        .with_status(),
        def(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
        )
        .with_status()
        .with_generation(),
    ]
}
