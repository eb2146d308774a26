//! What vn-agent reads from the super cluster, behind a small trait: the Kubernetes API in
//! production, an in-memory map in unit tests.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret};
use kube::Api;
use kube::api::ListParams;

/// Errors reading the super cluster.
#[derive(Debug, thiserror::Error)]
pub enum SuperError {
    /// The API server answered with an error or could not be reached.
    #[error("super cluster API: {0}")]
    Api(#[from] kube::Error),
}

/// Read access to the objects vn-agent needs. Every method answers `None` for a missing object.
pub trait SuperCluster: Send + Sync + 'static {
    /// Namespace `name`.
    fn namespace(&self, name: &str) -> BoxFuture<'_, Result<Option<Namespace>, SuperError>>;
    /// Secret `namespace/name`.
    fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<Secret>, SuperError>>;
    /// Pod `namespace/name`.
    fn pod(&self, namespace: &str, name: &str) -> BoxFuture<'_, Result<Option<Pod>, SuperError>>;
    /// Pods bound to `node` (every pod when `None`).
    fn pods(&self, node: Option<&str>) -> BoxFuture<'_, Result<Vec<Pod>, SuperError>>;
    /// Node `name`.
    fn node(&self, name: &str) -> BoxFuture<'_, Result<Option<Node>, SuperError>>;
}

/// The super cluster through its Kubernetes API.
#[derive(Clone)]
pub struct KubeSuper {
    client: kube::Client,
}

impl KubeSuper {
    /// Reads through `client`.
    pub fn new(client: kube::Client) -> Self {
        KubeSuper { client }
    }
}

impl SuperCluster for KubeSuper {
    fn namespace(&self, name: &str) -> BoxFuture<'_, Result<Option<Namespace>, SuperError>> {
        let name = name.to_string();
        Box::pin(async move {
            let api: Api<Namespace> = Api::all(self.client.clone());
            Ok(api.get_opt(&name).await?)
        })
    }

    fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<Secret>, SuperError>> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let name = name.to_string();
        Box::pin(async move { Ok(api.get_opt(&name).await?) })
    }

    fn pod(&self, namespace: &str, name: &str) -> BoxFuture<'_, Result<Option<Pod>, SuperError>> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let name = name.to_string();
        Box::pin(async move { Ok(api.get_opt(&name).await?) })
    }

    fn pods(&self, node: Option<&str>) -> BoxFuture<'_, Result<Vec<Pod>, SuperError>> {
        let api: Api<Pod> = Api::all(self.client.clone());
        let params = match node {
            Some(n) => ListParams::default().fields(&format!("spec.nodeName={n}")),
            None => ListParams::default(),
        };
        Box::pin(async move { Ok(api.list(&params).await?.items) })
    }

    fn node(&self, name: &str) -> BoxFuture<'_, Result<Option<Node>, SuperError>> {
        let api: Api<Node> = Api::all(self.client.clone());
        let name = name.to_string();
        Box::pin(async move { Ok(api.get_opt(&name).await?) })
    }
}

/// An in-memory super cluster (for tests and for embedding without an API server).
#[derive(Clone, Default)]
pub struct MemorySuper {
    objects: Arc<RwLock<Objects>>,
}

#[derive(Default)]
struct Objects {
    namespaces: BTreeMap<String, Namespace>,
    secrets: BTreeMap<(String, String), Secret>,
    pods: BTreeMap<(String, String), Pod>,
    nodes: BTreeMap<String, Node>,
}

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl MemorySuper {
    /// An empty super cluster.
    pub fn new() -> Self {
        MemorySuper::default()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects> {
        self.objects.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Objects> {
        self.objects.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or replaces a namespace.
    pub fn put_namespace(&self, ns: Namespace) {
        let name = ns.metadata.name.clone().unwrap_or_default();
        self.write().namespaces.insert(name, ns);
    }

    /// Adds or replaces a secret.
    pub fn put_secret(&self, secret: Secret) {
        let k = key(&secret.metadata);
        self.write().secrets.insert(k, secret);
    }

    /// Adds or replaces a pod.
    pub fn put_pod(&self, pod: Pod) {
        let k = key(&pod.metadata);
        self.write().pods.insert(k, pod);
    }

    /// Adds or replaces a node.
    pub fn put_node(&self, node: Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        self.write().nodes.insert(name, node);
    }
}

impl SuperCluster for MemorySuper {
    fn namespace(&self, name: &str) -> BoxFuture<'_, Result<Option<Namespace>, SuperError>> {
        let found = self.read().namespaces.get(name).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Option<Secret>, SuperError>> {
        let found = self
            .read()
            .secrets
            .get(&(namespace.to_string(), name.to_string()))
            .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn pod(&self, namespace: &str, name: &str) -> BoxFuture<'_, Result<Option<Pod>, SuperError>> {
        let found = self
            .read()
            .pods
            .get(&(namespace.to_string(), name.to_string()))
            .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn pods(&self, node: Option<&str>) -> BoxFuture<'_, Result<Vec<Pod>, SuperError>> {
        let found: Vec<Pod> = self
            .read()
            .pods
            .values()
            .filter(|p| {
                node.is_none() || p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == node
            })
            .cloned()
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn node(&self, name: &str) -> BoxFuture<'_, Result<Option<Node>, SuperError>> {
        let found = self.read().nodes.get(name).cloned();
        Box::pin(async move { Ok(found) })
    }
}
