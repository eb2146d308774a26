//! The test world: tenant PKIs shaped like vc-manager's, an in-memory super cluster shaped like
//! the syncer's output, a kubelet stand-in that counts what reaches it, vn-agent itself, and a
//! TLS client playing the tenant API server.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::tls::{self, ClientAuth, ServerVerification};
use crds::tenancy::{self, SECRET_ROOT_CA, TenantId};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    Container, DaemonEndpoint, Namespace, Node, NodeAddress, NodeDaemonEndpoints, NodeStatus, Pod,
    PodSpec, Secret,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{PostParams, Resource};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use vn_agent::{AgentHandle, Config, KubeSuper};

pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(s: impl Into<Bytes>) -> Body {
    Full::new(s.into()).boxed()
}

/// A certificate authority issuing client certificates.
pub struct Ca {
    pub cert_pem: String,
    pub key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(cn: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A client certificate (CN, O) like vc-manager's kubelet-client: (cert PEM, key PEM).
    pub fn client(&self, cn: &str) -> (String, String) {
        self.client_with(cn, |_| {})
    }

    pub fn client_with(
        &self,
        cn: &str,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        edit(&mut params);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A serving certificate for 127.0.0.1/localhost.
    pub fn server(&self) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "kubelet");
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A self-signed client certificate.
pub fn self_signed_client(cn: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
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

/// The kubelet stand-in: requires vn-agent's client certificate, records every request.
pub struct Kubelet {
    pub addr: SocketAddr,
    pub ca: Ca,
    pub requests: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<String>>>,
    pub release: Arc<Notify>,
}

impl Kubelet {
    pub async fn start() -> Self {
        let ca = Ca::new("kubelet-ca");
        let (cert, key) = ca.server();
        let roots = tls::root_store(&tls::certs_from_pem(ca.cert_pem.as_bytes()).unwrap()).unwrap();
        let config = tls::server_config(
            tls::certs_from_pem(cert.as_bytes()).unwrap(),
            tls::private_key_from_pem(key.as_bytes()).unwrap(),
            ClientAuth::Required(roots),
            &[b"http/1.1"],
        )
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let release = Arc::new(Notify::new());
        let (r, s, rel) = (requests.clone(), seen.clone(), release.clone());
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                let (r, s, rel) = (r.clone(), s.clone(), rel.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let peer = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first().cloned())
                        .and_then(|c| tls::cert_subject(&c).ok())
                        .and_then(|s| s.common_name)
                        .unwrap_or_default();
                    let svc = service_fn(move |req: Request<Incoming>| {
                        r.fetch_add(1, Ordering::SeqCst);
                        s.lock()
                            .unwrap()
                            .push(req.uri().path_and_query().unwrap().to_string());
                        let (rel, peer) = (rel.clone(), peer.clone());
                        async move { Ok::<_, Infallible>(kubelet_route(req, rel, peer)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Kubelet {
            addr,
            ca,
            requests,
            seen,
            release,
        }
    }

    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> String {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

fn kubelet_route(mut req: Request<Incoming>, release: Arc<Notify>, peer: String) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    if path.starts_with("/containerLogs/") {
        if query.contains("follow=true") {
            let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            tokio::spawn(async move {
                let _ = tx.send(Ok(Frame::data(Bytes::from("line 1\n")))).await;
                release.notified().await;
                let _ = tx.send(Ok(Frame::data(Bytes::from("line 2\n")))).await;
            });
            return Response::new(BodyExt::boxed(StreamBody::new(
                tokio_stream::wrappers::ReceiverStream::new(rx),
            )));
        }
        return Response::new(full(format!("logs of {path} for {peer}\n")));
    }
    let upgradable = ["/exec/", "/attach/", "/portForward/", "/run/"]
        .iter()
        .any(|p| path.starts_with(p));
    if upgradable && let Some(proto) = req.headers().get("upgrade").cloned() {
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(up) = on.await else { return };
            let mut io = TokioIo::new(up);
            let mut buf = [0u8; 1024];
            loop {
                let n = io.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                let mut out = b"kubelet:".to_vec();
                out.extend_from_slice(&buf[..n]);
                if io.write_all(&out).await.is_err() {
                    break;
                }
            }
        });
        return Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "Upgrade")
            .header("upgrade", proto)
            .header("x-stream-protocol-version", "v4.channel.k8s.io")
            .body(full(""))
            .unwrap();
    }
    let mut r = Response::new(full(format!("kubelet saw {path}")));
    *r.status_mut() = if upgradable {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    r
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

/// A TLS client playing the tenant API server's kubelet client.
pub struct Client {
    addr: SocketAddr,
    connector: TlsConnector,
}

impl Client {
    pub fn new(addr: SocketAddr, cert_key: Option<&(String, String)>) -> Self {
        let cert = cert_key.map(|(c, k)| {
            (
                tls::certs_from_pem(c.as_bytes()).unwrap(),
                tls::private_key_from_pem(k.as_bytes()).unwrap(),
            )
        });
        let config =
            tls::client_config(ServerVerification::Insecure, cert, &[b"http/1.1"]).unwrap();
        Client {
            addr,
            connector: TlsConnector::from(Arc::new(config)),
        }
    }

    /// Sends one request on a fresh connection; the connection task runs with upgrades.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Incoming>, String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        sender.send_request(req).await.map_err(|e| e.to_string())
    }

    pub async fn get(&self, path: &str) -> Result<Response<Incoming>, String> {
        self.send(Request::get(path).body(full("")).unwrap()).await
    }
}

/// Status code and parsed `Status` JSON of a refusal.
pub async fn status_of(resp: Response<Incoming>) -> (StatusCode, serde_json::Value) {
    let code = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
    (code, v)
}

pub async fn text(resp: Response<Incoming>) -> String {
    String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

/// Upgrades with `proto`, then checks that bytes go through to the kubelet and back.
pub async fn upgrade_roundtrip(client: &Client, method: http::Method, path: &str, proto: &str) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("connection", "Upgrade")
        .header("upgrade", proto)
        .header("x-stream-protocol-version", "v4.channel.k8s.io")
        .body(full(""))
        .unwrap();
    let mut resp = client.send(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS, "{path}");
    assert_eq!(resp.headers()["upgrade"], proto);
    let upgraded = hyper::upgrade::on(&mut resp).await.unwrap();
    let mut io = TokioIo::new(upgraded);
    io.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 12];
    tokio::time::timeout(std::time::Duration::from_secs(5), io.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"kubelet:ping");
}
