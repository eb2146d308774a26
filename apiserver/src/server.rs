//! Starting and stopping a server: the builder, the handle, TLS and the accept loop.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::tls::{self, ClientAuth, ServerVerification};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{Api, Settings};
use crate::auth::Authenticator;
use crate::first_byte::FirstByteDeadline;
use crate::limits::{Guard, Limits, Pending};
use crate::pki::{CertPair, PkiError, ServerPki};
use crate::store::Store;
use crate::tokens::TokenSigner;

/// Errors while starting a server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Storage could not be opened.
    #[error("opening storage: {0}")]
    Storage(#[from] crate::store::BackendError),
    /// Certificates could not be created or loaded.
    #[error("certificates: {0}")]
    Pki(#[from] PkiError),
    /// A configuration value is invalid.
    #[error("{0}")]
    Config(String),
    /// TLS setup failed.
    #[error("tls: {0}")]
    Tls(String),
    /// Bootstrapping system objects failed.
    #[error("bootstrapping system objects: {0}")]
    Bootstrap(String),
    /// The client for the handle could not be built.
    #[error("building client: {0}")]
    Client(String),
}

/// Builds and starts an embedded API server.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    listen: SocketAddr,
    data_dir: Option<PathBuf>,
    cert_dir: Option<PathBuf>,
    service_range: String,
    token_file: Option<PathBuf>,
    extra_sans: Vec<String>,
    kubelet_client: Option<(String, String)>,
    kubelet_ca: Option<String>,
    controllers: Vec<String>,
    name: String,
    issuer: String,
    watch_cache_size: usize,
    limits: Limits,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerBuilder {
    /// Defaults: `127.0.0.1:0`, memory storage, generated certificates, `10.96.0.0/12`, all
    /// control loops.
    pub fn new() -> Self {
        ServerBuilder {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            cert_dir: None,
            service_range: "10.96.0.0/12".into(),
            token_file: None,
            extra_sans: Vec::new(),
            kubelet_client: None,
            kubelet_ca: None,
            controllers: vec!["*".into()],
            name: "embedded".into(),
            issuer: crate::tokens::DEFAULT_ISSUER.into(),
            watch_cache_size: crate::store::DEFAULT_HISTORY,
            limits: Limits::default(),
        }
    }

    /// Request and connection limits (in-flight requests, header timeout and size).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Address to listen on (port 0 picks a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Persist objects in SQLite under `dir` (certificates go to `dir/pki` unless set).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Keep certificates in `dir`.
    pub fn cert_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cert_dir = Some(dir.into());
        self
    }

    /// Service clusterIP range (IPv4 CIDR).
    pub fn service_cluster_ip_range(mut self, cidr: &str) -> Self {
        self.service_range = cidr.to_string();
        self
    }

    /// Static bearer tokens in upstream's `--token-auth-file` format.
    pub fn token_auth_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = Some(path.into());
        self
    }

    /// Extra subject alternative names (DNS names or IPs) of the serving certificate.
    pub fn extra_sans(mut self, sans: impl IntoIterator<Item = String>) -> Self {
        self.extra_sans.extend(sans);
        self
    }

    /// Client certificate presented to kubelets (PEM certificate chain and key).
    pub fn kubelet_client_cert(
        mut self,
        cert_pem: impl Into<String>,
        key_pem: impl Into<String>,
    ) -> Self {
        self.kubelet_client = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// CA that kubelet serving certificates must chain to (default: not verified, as upstream
    /// without `--kubelet-certificate-authority`).
    pub fn kubelet_certificate_authority(mut self, ca_pem: impl Into<String>) -> Self {
        self.kubelet_ca = Some(ca_pem.into());
        self
    }

    /// Control loops to run, upstream `--controllers` style (`*`, `-name`, `name`).
    pub fn controllers(mut self, list: impl IntoIterator<Item = String>) -> Self {
        self.controllers = list.into_iter().collect();
        self
    }

    /// Name used for the cluster/context/user in the generated kubeconfig.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Events kept per resource for resuming watches (older resourceVersions get 410).
    pub fn watch_cache_size(mut self, events: usize) -> Self {
        self.watch_cache_size = events;
        self
    }

    /// Issuer of service-account tokens.
    pub fn service_account_issuer(mut self, issuer: &str) -> Self {
        self.issuer = issuer.to_string();
        self
    }

    /// Starts the server.
    pub async fn start(self) -> Result<ServerHandle, StartError> {
        common::process::install_crypto_provider();
        let service_range: ipnet::Ipv4Net = self.service_range.parse().map_err(|e| {
            StartError::Config(format!(
                "--service-cluster-ip-range {:?}: {e}",
                self.service_range
            ))
        })?;
        let listener = TcpListener::bind(self.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: self.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: self.listen,
            source,
        })?;
        let store = match &self.data_dir {
            Some(d) => Store::sqlite(
                d,
                self.watch_cache_size,
                &crate::registry::index_fields_for_storage,
            )?,
            None => Store::memory(self.watch_cache_size),
        };
        let (mut dns, mut ips) = crate::pki::default_sans();
        if !addr.ip().is_unspecified() && !ips.contains(&addr.ip()) {
            ips.push(addr.ip());
        }
        for s in &self.extra_sans {
            match s.parse::<IpAddr>() {
                Ok(ip) => ips.push(ip),
                Err(_) => dns.push(s.clone()),
            }
        }
        let cert_dir = self
            .cert_dir
            .clone()
            .or_else(|| self.data_dir.as_ref().map(|d| d.join("pki")));
        let pki = ServerPki::load_or_create(cert_dir.as_deref(), &dns, &ips)?;
        let mut auth = Authenticator::default();
        if let Some(f) = &self.token_file {
            auth.load_token_file(f)
                .map_err(|e| StartError::Config(e.to_string()))?;
        }
        let signer = Arc::new(
            TokenSigner::from_pem(&pki.service_account_key_pem, &self.issuer, store.clone())
                .map_err(|e| StartError::Config(e.to_string()))?,
        );
        auth.add_verifier(signer.clone());
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let advertise = match addr.ip() {
            IpAddr::V6(_) if !addr.ip().is_unspecified() => format!("[{host}]:{}", addr.port()),
            _ => format!("{host}:{}", addr.port()),
        };
        let kubelet_tls = match &self.kubelet_client {
            Some((c, k)) => kubelet_client_config(Some((c, k)), self.kubelet_ca.as_deref())
                .map_err(StartError::Tls)?,
            None => {
                kubelet_client_config(None, self.kubelet_ca.as_deref()).map_err(StartError::Tls)?
            }
        };
        let settings = Settings {
            advertise: advertise.clone(),
            root_ca_pem: pki.serving_ca.cert_pem().to_string(),
        };
        let kubelet = Some(crate::kubelet::make_proxy(kubelet_tls));
        let mut api = Api::new(store, auth, settings, Some(signer), service_range, kubelet);
        api.aggregator.proxy_client = Some((
            pki.front_proxy_client.cert_pem.clone(),
            pki.front_proxy_client.key_pem.clone(),
        ));
        api.aggregator.proxy_ca_pem = pki.front_proxy_ca.cert_pem().to_string();
        api.aggregator.client_ca_pem = pki.client_ca.cert_pem().to_string();
        let api = Arc::new(api);
        crate::storage::load_derived(&api);
        crate::bootstrap::run(&api)
            .await
            .map_err(|e| StartError::Bootstrap(e.to_string()))?;
        let tls = Arc::new(server_tls(&pki).map_err(StartError::Tls)?);
        let shutdown = api.shutdown.clone();
        // Approved CSRs of the built-in signers get certificates this server's client CA signs,
        // so an issued client certificate authenticates here (upstream's cluster signing CA).
        let signing_ca =
            common::pki::Ca::from_pem(&pki.client_ca.pem().cert_pem, &pki.client_ca.pem().key_pem)
                .map(Arc::new)
                .map_err(|e| StartError::Bootstrap(format!("CSR signing CA: {e}")))?;
        let controllers =
            crate::controllers::start(api.clone(), &self.controllers, Some(signing_ca));
        let guard = Arc::new(Guard::new(self.limits.clone()));
        let accept = tokio::spawn(accept_loop(listener, tls, api.clone(), guard));
        let url = format!("https://{advertise}");
        let kubeconfig_yaml = kubeconfig(&self.name, &url, pki.serving_ca.cert_pem(), &pki.admin);
        let kube_config = kube_config_from_yaml(&kubeconfig_yaml).await?;
        let client = kube::Client::try_from(kube_config.clone())
            .map_err(|e| StartError::Client(e.to_string()))?;
        tracing::info!(%url, storage = if api.store.is_durable() { "sqlite" } else { "memory" }, "apiserver ready");
        Ok(ServerHandle {
            url,
            addr,
            kubeconfig_yaml,
            kube_config,
            client,
            ca_pem: pki.serving_ca.cert_pem().to_string(),
            pki: Arc::new(pki),
            api,
            shutdown,
            accept: Some(accept),
            controllers,
        })
    }
}

fn server_tls(pki: &ServerPki) -> Result<ServerConfig, String> {
    let chain = tls::certs_from_pem(pki.serving.cert_pem.as_bytes()).map_err(|e| e.to_string())?;
    let key =
        tls::private_key_from_pem(pki.serving.key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let client_cas =
        tls::certs_from_pem(pki.client_ca.cert_pem().as_bytes()).map_err(|e| e.to_string())?;
    let roots = tls::root_store(&client_cas).map_err(|e| e.to_string())?;
    tls::server_config(
        chain,
        key,
        ClientAuth::Optional(roots),
        &[b"h2", b"http/1.1"],
    )
    .map_err(|e| e.to_string())
}

/// TLS client configuration for talking to kubelets: their serving certificates are verified
/// only against `ca_pem` when given, as upstream does without `--kubelet-certificate-authority`.
pub fn kubelet_client_config(
    client: Option<(&String, &String)>,
    ca_pem: Option<&str>,
) -> Result<rustls::ClientConfig, String> {
    let verification = match ca_pem {
        Some(ca) => {
            let cas = tls::certs_from_pem(ca.as_bytes()).map_err(|e| e.to_string())?;
            ServerVerification::Roots(tls::root_store(&cas).map_err(|e| e.to_string())?)
        }
        None => ServerVerification::Insecure,
    };
    let client_cert = match client {
        Some((cert_pem, key_pem)) => Some((
            tls::certs_from_pem(cert_pem.as_bytes())
                .map_err(|e| format!("kubelet client certificate: {e}"))?,
            tls::private_key_from_pem(key_pem.as_bytes())
                .map_err(|e| format!("kubelet client key: {e}"))?,
        )),
        None => None,
    };
    tls::client_config(verification, client_cert, &[b"http/1.1"])
        .map_err(|e| format!("kubelet client certificate: {e}"))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    api: Arc<Api>,
    guard: Arc<Guard>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let shutdown = api.shutdown.clone();
    loop {
        let (tcp, peer) = tokio::select! {
            conn = common::listen::accept(&listener, "apiserver") => conn,
            _ = shutdown.cancelled() => break,
        };
        // Over the cap of connections that have not authenticated yet: close at once rather
        // than let slow or idle clients use up the process's file descriptors.
        let Some(pending) = guard.admit_connection() else {
            tracing::debug!(%peer, "too many unauthenticated connections; closing");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let api = api.clone();
        let guard = guard.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "tls handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| api.auth.authenticate_cert(c.as_ref()));
            if user.is_some() {
                pending.authenticated();
            }
            let pending = Arc::new(pending);
            let limits = guard.limits().clone();
            let svc = service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(crate::http::PeerAddr(peer));
                let (api, user, guard, pending) =
                    (api.clone(), user.clone(), guard.clone(), pending.clone());
                async move {
                    Ok::<_, std::convert::Infallible>(
                        serve_limited(api, req, user, guard, pending).await,
                    )
                }
            });
            let builder = connection_builder(&limits);
            let conn = builder
                .serve_connection_with_upgrades(
                    TokioIo::new(FirstByteDeadline::new(tls, limits.header_read_timeout)),
                    svc,
                )
                .into_owned();
            let conn = watcher.watch(conn);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with error");
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// HTTP/1 and HTTP/2 settings after upstream's server: header timeout and size limits.
fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(250);
    builder
}

/// Serves one request within the in-flight limits; a request that answers other than 401
/// marks its connection authenticated.
async fn serve_limited(
    api: Arc<Api>,
    req: http::Request<hyper::body::Incoming>,
    user: Option<crate::auth::User>,
    guard: Arc<Guard>,
    pending: Arc<Pending>,
) -> http::Response<crate::http::response::Body> {
    let permit = match guard.admit_request(req.method(), req.uri().path(), req.uri().query()) {
        Ok(permit) => permit,
        Err(e) => return crate::http::response::error(&e),
    };
    let response = crate::router::serve(api, req, user).await;
    if response.status() != http::StatusCode::UNAUTHORIZED {
        pending.authenticated();
    }
    match permit {
        Some(permit) => response
            .map(|body| http_body_util::BodyExt::boxed(crate::limits::HeldBody::new(body, permit))),
        None => response,
    }
}

fn kubeconfig(name: &str, url: &str, ca_pem: &str, user: &CertPair) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {url}\n    certificate-authority-data: {}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}-admin\ncurrent-context: {name}\nusers:\n- name: {name}-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(ca_pem),
        b64(&user.cert_pem),
        b64(&user.key_pem)
    )
}

async fn kube_config_from_yaml(yaml: &str) -> Result<kube::Config, StartError> {
    let kc =
        kube::config::Kubeconfig::from_yaml(yaml).map_err(|e| StartError::Client(e.to_string()))?;
    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| StartError::Client(e.to_string()))
}

/// A running server.
pub struct ServerHandle {
    url: String,
    addr: SocketAddr,
    kubeconfig_yaml: String,
    kube_config: kube::Config,
    client: kube::Client,
    ca_pem: String,
    pki: Arc<ServerPki>,
    api: Arc<Api>,
    shutdown: CancellationToken,
    accept: Option<tokio::task::JoinHandle<()>>,
    controllers: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// `https://host:port`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An admin kubeconfig (YAML).
    pub fn kubeconfig_yaml(&self) -> &str {
        &self.kubeconfig_yaml
    }

    /// The admin kubeconfig as a `kube::Config`.
    pub fn kube_config(&self) -> kube::Config {
        self.kube_config.clone()
    }

    /// A client authenticated as admin (`system:masters`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The CA of the serving certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA whose client certificates the server accepts (PEM).
    pub fn client_ca_pem(&self) -> &str {
        self.pki.client_ca.cert_pem()
    }

    /// A client certificate for `user` in `groups`: `(cert_pem, key_pem)`.
    pub fn issue_client_cert(
        &self,
        user: &str,
        groups: &[&str],
    ) -> Result<(String, String), PkiError> {
        let p = crate::pki::issue_client(&self.pki.client_ca, user, groups)?;
        Ok((p.cert_pem, p.key_pem))
    }

    /// A kubeconfig (YAML) for `user` in `groups`.
    pub fn kubeconfig_for(&self, user: &str, groups: &[&str]) -> Result<String, PkiError> {
        let p = crate::pki::issue_client(&self.pki.client_ca, user, groups)?;
        Ok(kubeconfig(user, &self.url, &self.ca_pem, &p))
    }

    /// The server's shared state (in-process control loops, tests).
    pub fn state(&self) -> Arc<Api> {
        self.api.clone()
    }

    /// Stops accepting, ends watches, waits for open requests (up to 5 s).
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(a) = self.accept.take() {
            let _ = a.await;
        }
        for c in self.controllers.drain(..) {
            c.abort();
        }
    }

    /// A future that ends when the server is shut down.
    pub async fn stopped(&self) {
        self.shutdown.cancelled().await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
        for c in &self.controllers {
            c.abort();
        }
    }
}
