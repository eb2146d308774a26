//! The built-in resources the server serves (Kubernetes v1.33 names, scopes and verbs): the
//! registration table. Each entry names the resource, its typed decoding, its strategy and its
//! table printer; adding a kind is its strategy file plus one entry here.

use std::sync::Arc;

use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch,
    coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
    events::v1 as events, networking::v1 as networking, node::v1 as node, policy::v1 as policy,
    rbac::v1 as rbac, scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;

use super::def::{
    KubeletRoute, Plain, ResourceDef, STANDARD_VERBS, Shared, Strategy, Subresource, typed,
};
use crate::kinds::{crd, endpoints, event, misc, namespace, pod, quota, service, workload};
use crate::table::printers;

const CREATE: &[&str] = &["create"];
const GET: &[&str] = &["get"];
const PROXY: &[&str] = &["create", "delete", "get", "patch", "update"];
const STREAM: &[&str] = &["create", "get"];

fn sub(name: &'static str, kind: &'static str, verbs: &'static [&'static str]) -> Subresource {
    Subresource::other(name, kind, verbs)
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
        strategy: Arc::new(Plain),
        typed: None,
        printer: None,
        kubelet: None,
    }
}

impl ResourceDef {
    fn with_status(mut self) -> Self {
        self.has_status = true;
        self.subresources.push(Subresource::status());
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
    /// Registers the kind's strategy.
    fn strategy(mut self, s: impl Strategy + 'static) -> Self {
        self.strategy = Arc::new(s);
        self
    }
    /// Registers typed decoding through the k8s-openapi type `T`.
    fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(mut self) -> Self {
        self.typed = Some(typed::<T>);
        self
    }
    /// Registers where kubelet-served subresources go.
    fn kubelet(mut self, route: KubeletRoute) -> Self {
        self.kubelet = Some(route);
        self
    }
    /// Registers the table printer.
    fn printer(mut self, p: fn() -> crate::table::Printer) -> Self {
        self.printer = Some(p);
        self
    }
}

/// Selectable fields of Events (core/v1 and events.k8s.io/v1).
const EVENT_FIELDS: &[&str] = &[
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
];

/// Every built-in resource, core group first, in upstream's discovery order; `shared` is the
/// server state strategies hold (service allocations).
pub fn builtin_resources(shared: &Shared) -> Vec<ResourceDef> {
    let mut v = core(shared);
    v.extend(apps_and_batch());
    v.extend(other_groups());
    v
}

fn core(shared: &Shared) -> Vec<ResourceDef> {
    let c = |r: &str, k: &str, ns: bool, short: &[&str]| def("", "v1", r, k, ns, short);
    vec![
        c("bindings", "Binding", true, &[]).with_verbs(CREATE),
        c("componentstatuses", "ComponentStatus", false, &["cs"])
            .with_verbs(&["get", "list"])
            .stored_as("")
            .printer(crate::kinds::componentstatus::printer),
        c("configmaps", "ConfigMap", true, &["cm"])
            .typed::<core::ConfigMap>()
            .strategy(misc::ConfigMap)
            .printer(printers::config_map),
        c("endpoints", "Endpoints", true, &["ep"])
            .typed::<core::Endpoints>()
            .strategy(endpoints::Endpoints)
            .printer(printers::endpoints),
        c("events", "Event", true, &["ev"])
            .with_fields(EVENT_FIELDS)
            .typed::<core::Event>()
            .strategy(event::Event)
            .printer(printers::event),
        c("limitranges", "LimitRange", true, &["limits"])
            .typed::<core::LimitRange>()
            .strategy(misc::LimitRange),
        c("namespaces", "Namespace", false, &["ns"])
            .with_status()
            .with_sub(Subresource {
                kind: "Namespace",
                verbs: &["update"],
                ..Subresource::partial("finalize", &["/spec/finalizers"])
            })
            .with_fields(&["status.phase"])
            .with_verbs(&[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ])
            .typed::<core::Namespace>()
            .strategy(namespace::Namespace)
            .printer(printers::namespace),
        c("nodes", "Node", false, &["no"])
            .with_status()
            .with_sub(sub("proxy", "NodeProxyOptions", PROXY))
            .with_fields(&["spec.unschedulable"])
            .typed::<core::Node>()
            .strategy(misc::Node)
            .printer(printers::node)
            .kubelet(KubeletRoute::Node),
        c(
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            true,
            &["pvc"],
        )
        .with_status()
        .typed::<core::PersistentVolumeClaim>()
        .strategy(misc::PersistentVolumeClaim)
        .printer(printers::persistent_volume_claim),
        c("persistentvolumes", "PersistentVolume", false, &["pv"])
            .with_status()
            .typed::<core::PersistentVolume>()
            .strategy(misc::PersistentVolume)
            .printer(printers::persistent_volume),
        c("pods", "Pod", true, &["po"])
            .in_all()
            .with_status()
            .with_sub(sub("attach", "PodAttachOptions", STREAM))
            .with_sub(Subresource::partial(
                "ephemeralcontainers",
                &["/spec/ephemeralContainers"],
            ))
            .with_sub(sub("binding", "Binding", CREATE))
            .with_sub(Subresource {
                group: "policy",
                version: "v1",
                ..sub("eviction", "Eviction", CREATE)
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
            ])
            .typed::<core::Pod>()
            .strategy(pod::Pod)
            .printer(printers::pod)
            .kubelet(KubeletRoute::Pod),
        c("podtemplates", "PodTemplate", true, &[])
            .typed::<core::PodTemplate>()
            .strategy(workload::Workload::core("PodTemplate"))
            .printer(printers::pod_template),
        c(
            "replicationcontrollers",
            "ReplicationController",
            true,
            &["rc"],
        )
        .in_all()
        .with_status()
        .with_sub(Subresource::scale())
        .with_generation()
        .with_fields(&["status.replicas"])
        .typed::<core::ReplicationController>()
        .strategy(workload::Workload::core("ReplicationController"))
        .printer(printers::replication_controller),
        c("resourcequotas", "ResourceQuota", true, &["quota"])
            .with_status()
            .typed::<core::ResourceQuota>()
            .strategy(quota::ResourceQuota)
            .printer(printers::resource_quota),
        c("secrets", "Secret", true, &[])
            .with_fields(&["type"])
            .typed::<core::Secret>()
            .strategy(misc::Secret)
            .printer(printers::secret),
        c("serviceaccounts", "ServiceAccount", true, &["sa"])
            .with_sub(Subresource {
                group: "authentication.k8s.io",
                version: "v1",
                ..sub("token", "TokenRequest", CREATE)
            })
            .typed::<core::ServiceAccount>()
            .printer(printers::service_account),
        c("services", "Service", true, &["svc"])
            .in_all()
            .with_status()
            .with_sub(sub("proxy", "ServiceProxyOptions", PROXY))
            .with_fields(&["spec.clusterIP", "spec.type"])
            .typed::<core::Service>()
            .strategy(service::Service::new(shared.services.clone()))
            .printer(printers::service),
    ]
}

fn apps_and_batch() -> Vec<ResourceDef> {
    let apps = |r: &str, k: &str, short: &[&str]| def("apps", "v1", r, k, true, short);
    let batch = |r: &str, k: &str, short: &[&str]| def("batch", "v1", r, k, true, short);
    let workload = |d: ResourceDef| d.in_all().with_status().with_generation();
    vec![
        apps("controllerrevisions", "ControllerRevision", &[])
            .typed::<apps::ControllerRevision>()
            .strategy(workload::Workload::new("ControllerRevision"))
            .printer(printers::controller_revision),
        workload(apps("daemonsets", "DaemonSet", &["ds"]))
            .typed::<apps::DaemonSet>()
            .strategy(workload::Workload::new("DaemonSet"))
            .printer(printers::daemon_set),
        workload(apps("deployments", "Deployment", &["deploy"]))
            .with_sub(Subresource::scale())
            .typed::<apps::Deployment>()
            .strategy(workload::Workload::new("Deployment"))
            .printer(printers::deployment),
        workload(apps("replicasets", "ReplicaSet", &["rs"]))
            .with_sub(Subresource::scale())
            .with_fields(&["status.replicas"])
            .typed::<apps::ReplicaSet>()
            .strategy(workload::Workload::new("ReplicaSet"))
            .printer(printers::replica_set),
        workload(apps("statefulsets", "StatefulSet", &["sts"]))
            .with_sub(Subresource::scale())
            .typed::<apps::StatefulSet>()
            .strategy(workload::Workload::new("StatefulSet"))
            .printer(printers::stateful_set),
        def("events.k8s.io", "v1", "events", "Event", true, &["ev"])
            .stored_as("/events")
            .with_fields(EVENT_FIELDS)
            .typed::<events::Event>()
            .strategy(event::EventV1)
            .printer(printers::event),
        review(
            "authentication.k8s.io",
            "selfsubjectreviews",
            "SelfSubjectReview",
            false,
        ),
        review(
            "authentication.k8s.io",
            "tokenreviews",
            "TokenReview",
            false,
        ),
        review(
            "authorization.k8s.io",
            "localsubjectaccessreviews",
            "LocalSubjectAccessReview",
            true,
        ),
        review(
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
        ),
        review(
            "authorization.k8s.io",
            "selfsubjectrulesreviews",
            "SelfSubjectRulesReview",
            false,
        ),
        review(
            "authorization.k8s.io",
            "subjectaccessreviews",
            "SubjectAccessReview",
            false,
        ),
        def(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
            &["hpa"],
        )
        .in_all()
        .with_status()
        .typed::<autoscaling::HorizontalPodAutoscaler>()
        .strategy(crate::kinds::hpa::HpaV2)
        .printer(printers::horizontal_pod_autoscaler),
        def(
            "autoscaling",
            "v1",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
            &["hpa"],
        )
        .in_all()
        .with_status()
        .typed::<k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler>()
        .strategy(crate::kinds::hpa::HpaV1)
        .printer(crate::kinds::hpa::printer_v1),
        workload(batch("cronjobs", "CronJob", &["cj"]))
            .typed::<batch::CronJob>()
            .strategy(workload::Workload::new("CronJob"))
            .printer(printers::cron_job),
        workload(batch("jobs", "Job", &[]))
            .with_fields(&["status.successful"])
            .typed::<batch::Job>()
            .strategy(workload::Workload::new("Job"))
            .printer(printers::job),
    ]
}

/// A create-only review resource (`SubjectAccessReview`...).
fn review(group: &str, resource: &str, kind: &str, namespaced: bool) -> ResourceDef {
    def(group, "v1", resource, kind, namespaced, &[]).with_verbs(CREATE)
}

/// `flowcontrol.apiserver.k8s.io`, served as v1beta3 (stored) and v1beta2 like v1.28.
const FLOWCONTROL: &str = "flowcontrol.apiserver.k8s.io";

fn other_groups() -> Vec<ResourceDef> {
    let rbac = |r: &str, k: &str, ns: bool| {
        def("rbac.authorization.k8s.io", "v1", r, k, ns, &[]).strategy(crate::kinds::rbac::Rbac)
    };
    let storage = |r: &str, k: &str| def("storage.k8s.io", "v1", r, k, false, &[]);
    let mut out = vec![
        def(
            "certificates.k8s.io",
            "v1",
            "certificatesigningrequests",
            "CertificateSigningRequest",
            false,
            &["csr"],
        )
        .with_status()
        .with_sub(Subresource::partial("approval", &["/status/conditions"]))
        .with_fields(&["spec.signerName"])
        .typed::<k8s_openapi::api::certificates::v1::CertificateSigningRequest>()
        .strategy(crate::kinds::certificates::Csr)
        .printer(crate::kinds::certificates::printer),
        def(
            "apiregistration.k8s.io",
            "v1",
            "apiservices",
            "APIService",
            false,
            &[],
        )
        .with_status()
        .typed::<k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService>()
        .strategy(crate::kinds::apiregistration::ApiService)
        .printer(crate::kinds::apiregistration::printer),
        def(
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            "MutatingWebhookConfiguration",
            false,
            &[],
        )
        .typed::<k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration>()
        .strategy(crate::kinds::admissionregistration::WebhookConfiguration { mutating: true })
        .printer(crate::kinds::admissionregistration::printer),
        def(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "ValidatingWebhookConfiguration",
            false,
            &[],
        )
        .typed::<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration>()
        .strategy(crate::kinds::admissionregistration::WebhookConfiguration { mutating: false })
        .printer(crate::kinds::admissionregistration::printer),
        def("coordination.k8s.io", "v1", "leases", "Lease", true, &[])
            .typed::<coordination::Lease>()
            .strategy(misc::Lease)
            .printer(printers::lease),
        def(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "EndpointSlice",
            true,
            &[],
        )
        .typed::<discovery::EndpointSlice>()
        .strategy(endpoints::EndpointSlice)
        .printer(printers::endpoint_slice),
        def(
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            "IngressClass",
            false,
            &[],
        )
        .typed::<networking::IngressClass>()
        .printer(printers::ingress_class),
        def(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "Ingress",
            true,
            &["ing"],
        )
        .with_status()
        .with_generation()
        .typed::<networking::Ingress>()
        .printer(printers::ingress),
        def(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            true,
            &["netpol"],
        )
        .with_generation()
        .typed::<networking::NetworkPolicy>()
        .strategy(misc::NetworkPolicy)
        .printer(printers::network_policy),
        def(
            "node.k8s.io",
            "v1",
            "runtimeclasses",
            "RuntimeClass",
            false,
            &[],
        )
        .typed::<node::RuntimeClass>()
        .printer(printers::runtime_class),
        def(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
            &["pdb"],
        )
        .with_status()
        .with_generation()
        .typed::<policy::PodDisruptionBudget>()
        .printer(printers::pod_disruption_budget),
        rbac("clusterrolebindings", "ClusterRoleBinding", false)
            .typed::<rbac::ClusterRoleBinding>()
            .printer(printers::cluster_role_binding),
        rbac("clusterroles", "ClusterRole", false).typed::<rbac::ClusterRole>(),
        rbac("rolebindings", "RoleBinding", true)
            .typed::<rbac::RoleBinding>()
            .printer(printers::role_binding),
        rbac("roles", "Role", true).typed::<rbac::Role>(),
        def(
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            "PriorityClass",
            false,
            &["pc"],
        )
        .typed::<scheduling::PriorityClass>()
        .strategy(misc::PriorityClass)
        .printer(printers::priority_class),
        storage("csidrivers", "CSIDriver")
            .typed::<storage::CSIDriver>()
            .printer(printers::csi_driver),
        storage("csinodes", "CSINode")
            .typed::<storage::CSINode>()
            .printer(printers::csi_node),
        def(
            "storage.k8s.io",
            "v1",
            "csistoragecapacities",
            "CSIStorageCapacity",
            true,
            &[],
        )
        .typed::<storage::CSIStorageCapacity>()
        .strategy(misc::CsiStorageCapacity),
        def(
            "storage.k8s.io",
            "v1",
            "storageclasses",
            "StorageClass",
            false,
            &["sc"],
        )
        .typed::<storage::StorageClass>()
        .strategy(misc::StorageClass)
        .printer(printers::storage_class),
        storage("volumeattachments", "VolumeAttachment")
            .with_status()
            .typed::<storage::VolumeAttachment>()
            .printer(printers::volume_attachment),
        def(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
        )
        .with_status()
        .with_generation()
        .typed::<apiext::CustomResourceDefinition>()
        .strategy(crd::Crd),
    ];
    use crate::kinds::flowcontrol::{FlowSchema as Fs, PriorityLevel as Pl};
    use crate::kinds::flowcontrol_print as fcp;
    for (v, old) in [("v1beta3", false), ("v1beta2", true)] {
        let fc = |r: &str, k: &str| def(FLOWCONTROL, v, r, k, false, &[]).with_status();
        out.push(
            fc("flowschemas", "FlowSchema")
                .strategy(Fs { v1beta2: old })
                .printer(fcp::flow_schema),
        );
        let pl = fc("prioritylevelconfigurations", "PriorityLevelConfiguration");
        out.push(
            pl.strategy(Pl { v1beta2: old })
                .printer(fcp::priority_level),
        );
    }
    out
}
