//! Every label, annotation and object name of the tenancy contract, kept as upstream spells them
//! so that objects written by upstream VirtualCluster stay readable.

/// Annotation on every super object: the cluster key of the owning tenant.
pub const ANNOTATION_CLUSTER: &str = "tenancy.x-k8s.io/cluster";
/// Annotation on every super object: the uid of the tenant object.
pub const ANNOTATION_UID: &str = "tenancy.x-k8s.io/uid";
/// Annotation on every super object: the tenant namespace (for namespaces: the tenant name).
pub const ANNOTATION_NAMESPACE: &str = "tenancy.x-k8s.io/namespace";
/// Annotation on every super object: the tenant object's ownerReferences as JSON.
pub const ANNOTATION_OWNER_REFERENCES: &str = "tenancy.x-k8s.io/ownerReferences";
/// Label and annotation: name of the VirtualCluster owning the object.
pub const LABEL_VC_NAME: &str = "tenancy.x-k8s.io/vcname";
/// Label and annotation: namespace of the VirtualCluster owning the object.
pub const LABEL_VC_NAMESPACE: &str = "tenancy.x-k8s.io/vcnamespace";
/// Annotation on super namespaces: uid of the owning VirtualCluster.
pub const ANNOTATION_VC_UID: &str = "tenancy.x-k8s.io/vcuid";
/// Annotation on the root namespace of a tenant: `true`.
pub const ANNOTATION_VC_ROOT_NS: &str = "tenancy.x-k8s.io/vcrootns";
/// Annotation on super services: the clusterIP the tenant's service has in the tenant.
pub const ANNOTATION_CLUSTER_IP: &str = "tenancy.x-k8s.io/clusterIP";
/// Annotation on tenant services: the real clusterIP of the super service.
pub const ANNOTATION_SUPER_CLUSTER_IP: &str = "transparency.tenancy.x-k8s.io/clusterIP";
/// Label on tenant nodes created by the syncer: `true`.
pub const LABEL_VIRTUAL_NODE: &str = "tenancy.x-k8s.io/virtualnode";
/// Label on super objects (PVs, StorageClasses, PriorityClasses) broadcast to every tenant.
pub const LABEL_SUPER_PUBLIC: &str = "tenancy.x-k8s.io/super.public";
/// Label on super secrets holding a tenant service-account token: the tenant secret's uid.
pub const LABEL_SECRET_UID: &str = "tenancy.x-k8s.io/secret.UID";
/// Annotation on super secrets: the name of the tenant secret they copy.
pub const LABEL_SECRET_NAME: &str = "tenancy.x-k8s.io/secret.name";
/// Label a tenant puts on an object to keep the syncer away from it.
pub const LABEL_IGNORE_SYNC: &str = "tenancy.x-k8s.io/ignore-sync";
/// Label on a tenant pod that stops the syncer from rewriting its dnsPolicy.
pub const LABEL_DISABLE_DNS_POLICY_MUTATION: &str = "tenancy.x-k8s.io/disable.dnsPolicyMutation";

/// Key prefix always treated as super-owned (opaque).
pub const DEFAULT_OPAQUE_PREFIX: &str = "tenancy.x-k8s.io";
/// Key prefix always copied up from super objects (transparent).
pub const DEFAULT_TRANSPARENT_PREFIX: &str = "transparency.tenancy.x-k8s.io";

/// Root-namespace secret holding the tenant admin kubeconfig (also its data key).
pub const SECRET_ADMIN_KUBECONFIG: &str = "admin-kubeconfig";
/// Root-namespace secret holding the controller-manager kubeconfig (also its data key).
pub const SECRET_CONTROLLER_MANAGER_KUBECONFIG: &str = "controller-manager-kubeconfig";
/// Root-namespace secret holding the tenant root CA (`tls.crt`, `tls.key`).
pub const SECRET_ROOT_CA: &str = "root-ca";
/// Root-namespace secret holding the tenant API server's serving certificate.
pub const SECRET_APISERVER_CA: &str = "apiserver-ca";
/// Root-namespace secret holding the etcd certificate.
pub const SECRET_ETCD_CA: &str = "etcd-ca";
/// Root-namespace secret holding the front-proxy CA.
pub const SECRET_FRONT_PROXY_CA: &str = "front-proxy-ca";
/// Root-namespace secret holding the service-account signing key pair.
pub const SECRET_SERVICE_ACCOUNT_RSA: &str = "serviceaccount-rsa";
/// Root-namespace secret holding the kubelet client certificate (CN = cluster key) that the tenant
/// API server presents to vn-agent.
pub const SECRET_KUBELET_CLIENT: &str = "kubelet-client";

/// Namespace of the tenant DNS service.
pub const TENANT_DNS_NAMESPACE: &str = "kube-system";
/// Name of the tenant DNS service.
pub const TENANT_DNS_SERVICE: &str = "kube-dns";
