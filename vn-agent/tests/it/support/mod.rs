//! The test world: tenant PKIs shaped like vc-manager's, an in-memory super cluster shaped like
//! the syncer's output, a kubelet stand-in that counts what reaches it (`kubelet`), vn-agent
//! itself, and a TLS client playing the tenant API server (`client`).

mod client;
mod kubelet;

pub use client::*;
pub use kubelet::Kubelet;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use common::pki::{self, LeafSpec, Validity};
use crds::tenancy::{self, SECRET_ROOT_CA, TenantId};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    Container, DaemonEndpoint, Namespace, Node, NodeAddress, NodeDaemonEndpoints, NodeStatus, Pod,
    PodSpec, Secret,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{PostParams, Resource};
use serde::de::DeserializeOwned;
use vn_agent::{AgentHandle, Config, KubeSuper};

pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(s: impl Into<Bytes>) -> Body {
    Full::new(s.into()).boxed()
}

/// A certificate authority issuing client certificates.
pub struct Ca {
    pub cert_pem: String,
    pub key_pem: String,
    ca: pki::Ca,
}

impl Ca {
    pub fn new(cn: &str) -> Self {
        let ca = pki::Ca::generate(cn, Validity::Unlimited).unwrap();
        Ca {
            cert_pem: ca.pem().cert_pem.clone(),
            key_pem: ca.pem().key_pem.clone(),
            ca,
        }
    }

    /// A client certificate like vc-manager's kubelet-client: (cert PEM, key PEM).
    pub fn client(&self, cn: &str) -> (String, String) {
        self.client_with(cn, |_| {})
    }

    pub fn client_with(&self, cn: &str, edit: impl FnOnce(&mut LeafSpec)) -> (String, String) {
        let mut spec = LeafSpec::client(cn);
        edit(&mut spec);
        pair(self.ca.issue(&spec).unwrap())
    }

    /// A serving certificate for 127.0.0.1/localhost.
    pub fn server(&self) -> (String, String) {
        let spec = LeafSpec::server("kubelet").with_names(["127.0.0.1", "localhost"]);
        pair(self.ca.issue(&spec).unwrap())
    }
}

fn pair(c: pki::CertKey) -> (String, String) {
    (c.cert_pem, c.key_pem)
}

/// A self-signed client certificate.
pub fn self_signed_client(cn: &str) -> (String, String) {
    pair(pki::self_signed(&LeafSpec::client(cn)).unwrap())
}

/// One tenant: identity and root CA.
pub struct Tenant {
    pub id: TenantId,
    pub ca: Ca,
}

impl Tenant {
    pub fn new(cluster_key: &str, vc_name: &str) -> Self {
        Tenant {
            id: TenantId {
                cluster_key: cluster_key.to_string(),
                vc_name: vc_name.to_string(),
                vc_namespace: "tenants".to_string(),
                vc_uid: format!("uid-{vc_name}"),
            },
            ca: Ca::new(&format!("{vc_name}-root-ca")),
        }
    }

    pub fn key(&self) -> &str {
        &self.id.cluster_key
    }

    /// The kubelet-client certificate vc-manager issues: CN = cluster key, signed by root CA.
    pub fn kubelet_client(&self) -> (String, String) {
        self.ca.client(self.key())
    }

    pub fn super_ns(&self, tenant_ns: &str) -> String {
        tenancy::super_namespace(self.key(), tenant_ns).unwrap()
    }

    /// Root namespace + `root-ca` secret, as vc-manager writes them.
    pub async fn install(&self, sup: &Super) {
        sup.put_namespace(Namespace {
            metadata: ObjectMeta {
                name: Some(self.key().to_string()),
                annotations: Some(self.id.root_namespace_annotations()),
                ..Default::default()
            },
            ..Default::default()
        })
        .await;
        sup.put_secret(root_ca_secret(self.key(), &self.ca)).await;
    }

    /// The super namespace of tenant namespace `ns`, as the syncer writes it.
    pub fn namespace(&self, ns: &str) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(self.super_ns(ns)),
                annotations: Some(self.id.namespace_annotations(&format!("{ns}-uid"), ns)),
                labels: Some(self.id.labels()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// A super pod synced from tenant pod `ns/name` with tenant uid `uid`.
    pub fn pod(&self, ns: &str, name: &str, uid: &str, node: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(self.super_ns(ns)),
                uid: Some(format!("super-{uid}")),
                labels: Some(self.id.labels()),
                annotations: Some(self.id.object_annotations(uid, ns, &[])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(str::to_string),
                containers: vec![Container {
                    name: "app".to_string(),
                    image: Some("busybox".to_string()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: None,
        }
    }
}

pub fn root_ca_secret(namespace: &str, ca: &Ca) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(SECRET_ROOT_CA.to_string()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(BTreeMap::from([
            (
                "tls.crt".to_string(),
                ByteString(ca.cert_pem.clone().into_bytes()),
            ),
            (
                "tls.key".to_string(),
                ByteString(ca.key_pem.clone().into_bytes()),
            ),
        ])),
        ..Default::default()
    }
}

pub fn node(name: &str, ip: &str, port: u16) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        spec: None,
        status: Some(NodeStatus {
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".to_string(),
                address: ip.to_string(),
            }]),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint {
                    port: i32::from(port),
                }),
            }),
            ..Default::default()
        }),
    }
}

/// The super cluster: an embedded API server, written through its admin client.
pub struct Super {
    /// Kept so the server lives as long as the test.
    _server: apiserver::ServerHandle,
    pub client: kube::Client,
}

impl Super {
    pub async fn start() -> Self {
        let server = apiserver::ServerBuilder::new().start().await.unwrap();
        let client = server.client();
        Super {
            _server: server,
            client,
        }
    }

    /// Creates `obj`, or replaces it when it exists.
    async fn put<K>(&self, api: Api<K>, mut obj: K)
    where
        K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        let name = obj.meta().name.clone().unwrap();
        // Pods wait for their namespace's default service account, as on a real cluster.
        for _ in 0..100 {
            let err = match api.create(&PostParams::default(), &obj).await {
                Ok(_) => return,
                Err(e) => e,
            };
            match &err {
                kube::Error::Api(s) if s.code == 409 => {
                    let current = api.get(&name).await.unwrap();
                    obj.meta_mut().resource_version = current.meta().resource_version.clone();
                    api.replace(&name, &PostParams::default(), &obj)
                        .await
                        .unwrap();
                    return;
                }
                kube::Error::Api(s) if s.code == 403 || s.code == 404 || s.code == 500 => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                _ => panic!("creating {name}: {err}"),
            }
        }
        panic!("could not create {name}");
    }

    pub async fn put_namespace(&self, ns: Namespace) {
        self.put(Api::all(self.client.clone()), ns).await;
    }

    pub async fn put_secret(&self, secret: Secret) {
        let ns = secret.metadata.namespace.clone().unwrap();
        self.put(Api::namespaced(self.client.clone(), &ns), secret)
            .await;
    }

    pub async fn put_node(&self, node: Node) {
        self.put(Api::all(self.client.clone()), node).await;
    }

    /// The uid the super cluster gave pod `ns/name`.
    pub async fn pod_uid(&self, ns: &str, name: &str) -> String {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        pods.get(name).await.unwrap().metadata.uid.unwrap()
    }

    /// Creates the pod (and its super namespace, as the syncer would have, when missing).
    pub async fn put_pod(&self, owner: &Tenant, tenant_ns: &str, pod: Pod) {
        let ns = pod.metadata.namespace.clone().unwrap();
        let nss: Api<Namespace> = Api::all(self.client.clone());
        if nss.get_opt(&ns).await.unwrap().is_none() {
            self.put_namespace(owner.namespace(tenant_ns)).await;
        }
        self.put(Api::namespaced(self.client.clone(), &ns), pod)
            .await;
    }
}

/// Everything a test needs: super cluster, kubelet, agent, tenants.
pub struct World {
    pub sup: Super,
    pub kubelet: Kubelet,
    pub agent: AgentHandle,
    pub a: Tenant,
    pub b: Tenant,
    _dir: tempfile::TempDir,
}

pub const NODE: &str = "node-1";

impl World {
    pub async fn start() -> Self {
        Self::start_with(|_, _| {}).await
    }

    /// Starts with tenants A and B (each with pod `default/web`), editing the config first.
    pub async fn start_with(edit: impl FnOnce(&mut Config, &Kubelet)) -> Self {
        common::process::install_crypto_provider();
        let sup = Super::start().await;
        let a = Tenant::new("tenants-1a2b3c-alpha", "alpha");
        let b = Tenant::new("tenants-4d5e6f-beta", "beta");
        a.install(&sup).await;
        b.install(&sup).await;
        sup.put_pod(
            &a,
            "default",
            a.pod("default", "web", "a-web-uid", Some(NODE)),
        )
        .await;
        sup.put_pod(
            &b,
            "default",
            b.pod("default", "web", "b-web-uid", Some(NODE)),
        )
        .await;
        sup.put_pod(
            &b,
            "default",
            b.pod("default", "b-only", "b-only-uid", Some(NODE)),
        )
        .await;
        let kubelet = Kubelet::start().await;
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = kubelet.ca.client("vn-agent");
        let cert_path = write(&dir, "kubelet-client.crt", &cert);
        let key_path = write(&dir, "kubelet-client.key", &key);
        let ca_path = write(&dir, "kubelet-ca.crt", &kubelet.ca.cert_pem);
        let mut config = Config::local();
        config.kubelet_url = format!("https://127.0.0.1:{}", kubelet.addr.port());
        config.kubelet_client_certificate = Some(cert_path);
        config.kubelet_client_key = Some(key_path);
        config.kubelet_certificate_authority = Some(ca_path);
        config.node_name = Some(NODE.to_string());
        edit(&mut config, &kubelet);
        let agent = vn_agent::start_with(config, Arc::new(KubeSuper::new(sup.client.clone())))
            .await
            .unwrap();
        World {
            sup,
            kubelet,
            agent,
            a,
            b,
            _dir: dir,
        }
    }

    /// A client presenting (cert, key).
    pub fn client(&self, cert_key: &(String, String)) -> Client {
        Client::new(self.agent.local_addr(), Some(cert_key))
    }
}

fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, content).unwrap();
    p
}
