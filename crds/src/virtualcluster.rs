//! The `VirtualCluster` custom resource (`tenancy.x-k8s.io/v1alpha1`).
//!
//! Field names and meanings follow upstream VirtualCluster so that existing objects keep working;
//! everything below "our additions" is optional and documented with its default.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::ClusterCondition;

/// Default cluster DNS domain of a tenant.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";
/// Default lifetime of tenant PKI in days.
pub const DEFAULT_PKI_EXPIRE_DAYS: i64 = 365;
/// Default tenant service CIDR.
pub const DEFAULT_SERVICE_CIDR: &str = "10.32.0.0/16";
/// Default fair-queue weight of a tenant.
pub const DEFAULT_SYNC_WEIGHT: u32 = 1;

/// Desired state of a tenant control plane.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tenancy.x-k8s.io",
    version = "v1alpha1",
    kind = "VirtualCluster",
    plural = "virtualclusters",
    singular = "virtualcluster",
    shortname = "vc",
    namespaced,
    status = "VirtualClusterStatus",
    doc = "A tenant control plane: its own API server and datastore, with pods running on the super cluster.",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"ClusterVersion","type":"string","jsonPath":".spec.clusterVersionName"}"#,
    printcolumn = r#"{"name":"ClusterNamespace","type":"string","jsonPath":".status.clusterNamespace"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualClusterSpec {
    /// DNS domain of the tenant, e.g. pods resolve as `{pod}.{ns}.svc.{clusterDomain}`.
    /// Default: `cluster.local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_domain: Option<String>,

    /// Name of the cluster-scoped `ClusterVersion` describing the control-plane workloads.
    pub cluster_version_name: String,

    /// Validity of the tenant PKI in days. Default: 365.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub pki_expire_days: Option<i64>,

    /// Key prefixes of labels/annotations that the super cluster adds to synced objects and that
    /// are copied back up to the tenant object. `transparency.tenancy.x-k8s.io` is always included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transparent_meta_prefixes: Vec<String>,

    /// Key prefixes of labels/annotations that belong to the super cluster: a tenant cannot set
    /// them on super objects and they are never overwritten by sync. `tenancy.x-k8s.io` is always
    /// included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opaque_meta_prefixes: Vec<String>,

    /// Service CIDR of the tenant control plane. Default: `10.32.0.0/16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_cidr: Option<String>,

    // ---- our additions ----
    /// How the control plane is provisioned. Default: the vc-manager's `--default-provisioner`
    /// (`native` unless configured otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioner: Option<Provisioner>,

    /// For `provisioner: import`: name of a secret in the VirtualCluster's namespace whose key
    /// `kubeconfig` holds an admin kubeconfig of an existing cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_kubeconfig_secret: Option<String>,

    /// Syncer settings for this tenant. Default: weight 1, the syncer's default rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncSpec>,

    /// Where the tenant's pods may run in the super cluster. Default: anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,

    /// What the tenant's pods may ask for. Default: the Pod Security Standard `baseline`, no
    /// `system-*` priority classes, any CPU/memory shape, no default requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_policy: Option<PodPolicy>,

    /// What the tenant's services and endpoints may claim in the super cluster. Default:
    /// ClusterIP and headless services only, endpoints only of the tenant's own pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_policy: Option<ServicePolicy>,

    /// Hard limits on what the tenant may consume in the super cluster, summed over all of its
    /// namespaces. Default: the syncer's `--default-tenant-quota`, or unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<TenantQuota>,
}

/// Per-tenant hard limits, shaped like a ResourceQuota's spec.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantQuota {
    /// Resource name (ResourceQuota's names: `pods`, `requests.cpu`, `limits.memory`,
    /// `requests.nvidia.com/gpu`, `services.nodeports`, `requests.storage`, …) → quantity.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hard: BTreeMap<String, String>,
}

/// Observed quota of a tenant.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantQuotaStatus {
    /// The limits in force.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hard: BTreeMap<String, String>,
    /// What the tenant's super objects use now.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub used: BTreeMap<String, String>,
}

/// What a tenant's services and endpoints may claim in the shared super cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServicePolicy {
    /// Allow `type: NodePort` (ports on every super node). The super cluster allocates the
    /// node ports and they are copied back to the tenant service. Default: false.
    #[serde(default)]
    pub allow_node_port: bool,
    /// Allow `type: LoadBalancer` (also implies node ports). Default: false.
    #[serde(default)]
    pub allow_load_balancer: bool,
    /// CIDRs a service may claim as `externalIPs` or `loadBalancerIP`. Default: none.
    #[serde(
        default,
        rename = "allowedExternalIPs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allowed_external_ips: Vec<String>,
    /// DNS names an `ExternalName` service may point at; `*.example.com` allows every name
    /// below `example.com`. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_external_names: Vec<String>,
    /// CIDRs that hand-written Endpoints and EndpointSlices may name besides the tenant's own
    /// pods (e.g. an external database). Loopback, link-local and multicast are never allowed.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_endpoint_cidrs: Vec<String>,
}

/// How a tenant control plane is provisioned.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Provisioner {
    /// StatefulSets and Services from the `ClusterVersion`, in the tenant's root namespace.
    Native,
    /// A control plane running next to vc-manager (embedded API server or upstream binaries).
    Local,
    /// An existing cluster, reached with the kubeconfig in `importKubeconfigSecret`.
    Import,
}

impl Provisioner {
    /// The name used in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Provisioner::Native => "native",
            Provisioner::Local => "local",
            Provisioner::Import => "import",
        }
    }
}

/// Per-tenant syncer settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    /// Fair-queue weight: a tenant with weight 2 gets twice the syncer's attention of weight 1
    /// when both are busy. Default: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub weight: Option<u32>,

    /// Sustained sync operations per second for this tenant. Default: the syncer's `--tenant-qps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub qps: Option<u32>,

    /// Burst of sync operations above `qps`. Default: the syncer's `--tenant-burst`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub burst: Option<u32>,
}

/// Placement of tenant pods on super-cluster nodes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Labels every super node running this tenant's pods must have (merged into each pod's
    /// nodeSelector; the placement wins on conflicts), e.g. a node-class label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Tolerations added to every pod of this tenant, e.g. for tainted dedicated nodes. A
    /// tenant pod may only carry tolerations these cover (plus the node-condition tolerations
    /// Kubernetes adds itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<PlacementToleration>,

    /// Allow node affinity terms on `metadata.name` (`matchFields`), which pin a pod to one
    /// named node; tenant DaemonSets need this. The scheduler still applies the placement's
    /// selector and taints. Default: false.
    #[serde(default)]
    pub allow_node_pinning: bool,

    /// Schedulers of the super cluster a tenant pod may name in `spec.schedulerName`, besides
    /// `default-scheduler`. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduler_names: Vec<String>,
}

/// A toleration (same fields as `core/v1` Toleration).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementToleration {
    /// Taint key to tolerate; empty with `Exists` tolerates everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Exists` or `Equal` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Taint value for `Equal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; empty matches all effects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// For `NoExecute`: how long the pod stays bound after the taint appears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl From<&PlacementToleration> for k8s_openapi::api::core::v1::Toleration {
    fn from(t: &PlacementToleration) -> Self {
        k8s_openapi::api::core::v1::Toleration {
            key: t.key.clone(),
            operator: t.operator.clone(),
            value: t.value.clone(),
            effect: t.effect.clone(),
            toleration_seconds: t.toleration_seconds,
        }
    }
}

/// A Pod Security Standards level (as upstream's `pod-security.kubernetes.io/enforce`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PodSecurityLevel {
    /// No restrictions.
    Privileged,
    /// Prevents known privilege escalations (the default).
    #[default]
    Baseline,
    /// Current pod-hardening best practice.
    Restricted,
}

impl PodSecurityLevel {
    /// The level's name as upstream spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Privileged => "privileged",
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Restricted => "restricted",
        }
    }
}

/// What a tenant's pods may ask of the super cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodPolicy {
    /// Pod Security Standards level every tenant pod must meet; the `allow*` fields below are
    /// exceptions to it. Default: `baseline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<PodSecurityLevel>,
    /// Capabilities containers may add beyond the level's list (e.g. `NET_ADMIN`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_capabilities: Vec<String>,
    /// Priority classes of the super cluster tenant pods may name. Unset: any class except the
    /// `system-*` ones; empty: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_classes: Option<Vec<String>>,
    /// Allow `hostNetwork: true`. Default: false.
    #[serde(default)]
    pub allow_host_network: bool,
    /// Allow `hostPID: true`. Default: false.
    #[serde(default, rename = "allowHostPID")]
    pub allow_host_pid: bool,
    /// Allow `hostIPC: true`. Default: false.
    #[serde(default, rename = "allowHostIPC")]
    pub allow_host_ipc: bool,
    /// Allow `hostPath` volumes. Default: false.
    #[serde(default)]
    pub allow_host_path: bool,
    /// Allow containers with `securityContext.privileged: true`. Default: false.
    #[serde(default)]
    pub allow_privileged: bool,
    /// Allowed pod shapes: the pod's total CPU and memory (requests, or limits where larger) must
    /// fit within at least one shape. Empty: any shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_shapes: Vec<PodShape>,
    /// Requests set on every container that sets none (quantities like `100m`, `128Mi`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default_requests: BTreeMap<String, String>,
}

/// An allowed CPU/memory envelope for a whole pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodShape {
    /// Name shown in rejection events, e.g. `small`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Maximum CPU of the pod, e.g. `2` or `500m`.
    pub cpu: String,
    /// Maximum memory of the pod, e.g. `4Gi`.
    pub memory: String,
}

/// Lifecycle phase of a VirtualCluster.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ClusterPhase {
    /// Accepted, nothing provisioned yet.
    Pending,
    /// PKI and control plane being created.
    Provisioning,
    /// The control plane answers and the tenant can be used.
    Running,
    /// Something failed; the reason and conditions say what. Retried with backoff.
    Failed,
    /// Being removed.
    Deleting,
    /// Upstream's phase while a spec change is applied (accepted for compatibility).
    Updating,
    /// Upstream's terminal error phase (accepted for compatibility, treated like `Failed`).
    Error,
}

impl ClusterPhase {
    /// The phase's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterPhase::Pending => "Pending",
            ClusterPhase::Provisioning => "Provisioning",
            ClusterPhase::Running => "Running",
            ClusterPhase::Failed => "Failed",
            ClusterPhase::Deleting => "Deleting",
            ClusterPhase::Updating => "Updating",
            ClusterPhase::Error => "Error",
        }
    }
}

/// Observed state of a VirtualCluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualClusterStatus {
    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ClusterPhase>,
    /// The tenant's root namespace in the super cluster (its cluster key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_namespace: Option<String>,
    /// Human-readable detail of the current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One-word CamelCase reason for the current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Typed conditions: `PKIReady`, `ControlPlaneReady`, `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ClusterCondition>,
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The tenant's quota and its usage in the super cluster (written by the syncer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<TenantQuotaStatus>,
}

impl VirtualClusterSpec {
    /// Cluster domain with its default applied.
    pub fn cluster_domain(&self) -> &str {
        self.cluster_domain
            .as_deref()
            .filter(|d| !d.is_empty())
            .unwrap_or(DEFAULT_CLUSTER_DOMAIN)
    }

    /// PKI lifetime in days with its default applied.
    pub fn pki_expire_days(&self) -> i64 {
        self.pki_expire_days
            .filter(|d| *d > 0)
            .unwrap_or(DEFAULT_PKI_EXPIRE_DAYS)
    }

    /// Service CIDR with its default applied.
    pub fn service_cidr(&self) -> &str {
        self.service_cidr
            .as_deref()
            .filter(|c| !c.is_empty())
            .unwrap_or(DEFAULT_SERVICE_CIDR)
    }

    /// Fair-queue weight with its default applied (never 0).
    pub fn sync_weight(&self) -> u32 {
        self.sync
            .as_ref()
            .and_then(|s| s.weight)
            .filter(|w| *w > 0)
            .unwrap_or(DEFAULT_SYNC_WEIGHT)
    }
}

impl VirtualCluster {
    /// The current phase, if any was recorded.
    pub fn phase(&self) -> Option<ClusterPhase> {
        self.status.as_ref().and_then(|s| s.phase)
    }

    /// Whether the tenant control plane is up and usable.
    pub fn is_running(&self) -> bool {
        self.phase() == Some(ClusterPhase::Running)
    }
}
