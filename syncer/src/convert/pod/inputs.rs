//! What shapes a super pod besides the tenant pod: the tenant's services, API server, DNS and
//! token secrets.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServicePort;

/// Name prefix of the projected service-account volume the tenant's admission adds.
pub const KUBE_API_ACCESS_PREFIX: &str = "kube-api-access-";
/// Mount path of service-account credentials in a pod.
pub const SA_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A tenant service as seen from a super pod: its name, the super cluster IP and its ports.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceEnv {
    /// Service name in the tenant.
    pub name: String,
    /// The cluster IP of its super copy.
    pub cluster_ip: String,
    /// Its ports.
    pub ports: Vec<ServicePort>,
}

/// Where in-pod clients reach the tenant API server from the super cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiEndpoint {
    /// An IP address routable from super pods.
    pub ip: String,
    /// Its port.
    pub port: u16,
}

/// Everything besides the tenant pod that shapes its super copy.
#[derive(Clone, Copy, Debug)]
pub struct PodInputs<'a> {
    /// Services of the pod's tenant namespace with their super cluster IPs (for env vars).
    pub services: &'a [ServiceEnv],
    /// The tenant API server as reachable from super pods.
    pub apiserver: Option<&'a ApiEndpoint>,
    /// The super cluster IP of the tenant's `kube-system/kube-dns`.
    pub dns_ip: Option<&'a str>,
    /// The super secret holding a tenant token for the pod's service account (replaces the
    /// projected `kube-api-access-*` volume).
    pub token_secret: Option<&'a str>,
    /// Tenant service-account token secrets (tenant name → super name).
    pub legacy_token_secrets: &'a BTreeMap<String, String>,
}

static NO_SECRETS: BTreeMap<String, String> = BTreeMap::new();

impl Default for PodInputs<'_> {
    fn default() -> Self {
        PodInputs {
            services: &[],
            apiserver: None,
            dns_ip: None,
            token_secret: None,
            legacy_token_secrets: &NO_SECRETS,
        }
    }
}
