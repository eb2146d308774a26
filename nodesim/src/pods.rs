//! The kubelet side of pods: runs pods bound to our nodes through the provider, finishes
//! graceful deletion (stop, then delete with grace 0 and a uid precondition), marks pods of
//! vanished nodes Failed, and writes statuses through a coalescing pool of writers (the latest
//! status per pod wins; many pods are written concurrently).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Client};
use tokio::sync::Notify;

use crate::events::{Recorder, Source};
use crate::metrics::Metrics;
use crate::provider::PodProvider;

type Key = (String, String);

fn key(pod: &Pod) -> Key {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

#[derive(Default)]
struct Pending {
    order: std::collections::VecDeque<Key>,
    latest: HashMap<Key, serde_json::Value>,
}

/// Coalescing status writer.
#[derive(Clone)]
pub struct StatusWriter {
    pending: Arc<Mutex<Pending>>,
    wake: Arc<Notify>,
}

impl StatusWriter {
    /// Starts `workers` writers (they stop when `cancel` fires).
    pub fn start(
        client: Client,
        workers: usize,
        metrics: Metrics,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Self {
        let this = Self {
            pending: Arc::default(),
            wake: Arc::new(Notify::new()),
        };
        for _ in 0..workers.max(1) {
            let w = this.clone();
            let client = client.clone();
            let metrics = metrics.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = w.work(client, metrics) => {}
                }
            });
        }
        this
    }

    /// Queues a status (replacing any queued one for the same pod).
    pub fn push(&self, namespace: &str, name: &str, status: serde_json::Value) {
        if let Ok(mut p) = self.pending.lock() {
            let k = (namespace.to_string(), name.to_string());
            // A pod already waiting keeps its place; only its status is replaced.
            if p.latest.insert(k.clone(), status).is_none() {
                p.order.push_back(k);
            }
        }
        self.wake.notify_one();
    }

    fn take(&self) -> Option<(Key, serde_json::Value)> {
        let mut p = self.pending.lock().ok()?;
        let k = p.order.pop_front()?;
        p.latest.remove(&k).map(|v| (k, v))
    }

    async fn work(&self, client: Client, metrics: Metrics) {
        loop {
            let Some(((ns, name), status)) = self.take() else {
                self.wake.notified().await;
                continue;
            };
            // More work may be waiting: let another worker pick it up.
            self.wake.notify_one();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let patch = serde_json::json!({"status": status});
            match api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => metrics.status_writes.inc(),
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => {
                    tracing::warn!(namespace = %ns, pod = %name, error = %e, "pod status write failed")
                }
            }
        }
    }
}

/// Runs pods of our nodes.
pub struct PodController {
    client: Client,
    provider: Arc<dyn PodProvider>,
    writer: StatusWriter,
    nodes: Arc<Mutex<HashSet<String>>>,
    deleting: Mutex<HashSet<Key>>,
    recorder: Recorder,
}

impl PodController {
    /// A controller for the nodes in `nodes`.
    pub fn new(
        client: Client,
        provider: Arc<dyn PodProvider>,
        writer: StatusWriter,
        nodes: Arc<Mutex<HashSet<String>>>,
        recorder: Recorder,
    ) -> Arc<Self> {
        Arc::new(Self {
            client,
            provider,
            writer,
            nodes,
            deleting: Mutex::default(),
            recorder,
        })
    }

    /// Records a kubelet event for each of the pod's containers.
    fn container_events(&self, pod: &Pod, reason: &str, message: impl Fn(&Container) -> String) {
        let host = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
            let source = Source {
                component: "kubelet",
                host: host.clone(),
            };
            self.recorder.pod(pod, source, false, reason, message(c));
        }
    }

    /// What a kubelet reports when it starts a pod's containers.
    fn started_events(&self, pod: &Pod) {
        self.container_events(pod, "Pulled", |c| {
            format!(
                "Container image \"{}\" already present on machine",
                c.image.as_deref().unwrap_or_default()
            )
        });
        self.container_events(pod, "Created", |c| format!("Created container: {}", c.name));
        self.container_events(pod, "Started", |c| format!("Started container {}", c.name));
    }

    fn ours(&self, pod: &Pod) -> bool {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        node.is_some_and(|n| self.nodes.lock().is_ok_and(|set| set.contains(n)))
    }

    /// Handles a pod added or changed in the API.
    pub async fn upsert(self: &Arc<Self>, pod: Pod) {
        if !self.ours(&pod) {
            return;
        }
        let (ns, name) = key(&pod);
        if pod.metadata.deletion_timestamp.is_some() {
            let first = self
                .deleting
                .lock()
                .is_ok_and(|mut d| d.insert((ns.clone(), name.clone())));
            if first {
                let this = self.clone();
                tokio::spawn(async move { this.finish_deletion(pod).await });
            }
            return;
        }
        let known = self.provider.get_pod(&ns, &name).await.ok().flatten();
        match known {
            Some(p) if p.metadata.uid == pod.metadata.uid => {
                if let Err(e) = self.provider.update_pod(&pod).await {
                    tracing::warn!(namespace = %ns, pod = %name, error = %e, "provider update failed");
                }
            }
            _ if is_terminal(&pod) => {}
            _ => match self.provider.create_pod(&pod).await {
                Ok(()) => self.started_events(&pod),
                Err(e) => {
                    tracing::warn!(namespace = %ns, pod = %name, error = %e, "provider could not run pod");
                    self.writer.push(
                            &ns,
                            &name,
                            serde_json::json!({"phase": "Failed", "reason": "ProviderFailed", "message": e.to_string()}),
                        );
                }
            },
        }
    }

    /// Handles a pod that is gone from the API.
    pub async fn deleted(&self, pod: Pod) {
        let _ = self.provider.delete_pod(&pod).await;
        if let Ok(mut d) = self.deleting.lock() {
            d.remove(&key(&pod));
        }
    }

    /// Receives a status from the provider.
    pub fn status(&self, pod: Pod) {
        let (ns, name) = key(&pod);
        if self
            .deleting
            .lock()
            .is_ok_and(|d| d.contains(&(ns.clone(), name.clone())))
        {
            return;
        }
        if let Some(status) = pod.status
            && let Ok(v) = serde_json::to_value(status)
        {
            self.writer.push(&ns, &name, v);
        }
    }

    async fn finish_deletion(&self, pod: Pod) {
        let (ns, name) = key(&pod);
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                pod.spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30);
        // The mock's processes stop at once; a provider could take up to `grace`.
        let _ = grace;
        self.container_events(&pod, "Killing", |c| {
            format!("Stopping container {}", c.name)
        });
        if let Err(e) = self.provider.delete_pod(&pod).await {
            tracing::warn!(namespace = %ns, pod = %name, error = %e, "provider delete failed");
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => {
                tracing::warn!(namespace = %ns, pod = %name, error = %e, "final delete failed");
                if let Ok(mut d) = self.deleting.lock() {
                    d.remove(&(ns, name));
                }
            }
        }
    }

    /// Marks the non-terminal pods bound to a vanished node Failed, as pod GC does.
    pub async fn node_gone(&self, node: &str, pods: Vec<Pod>) {
        for pod in pods {
            if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node)
                || is_terminal(&pod)
            {
                continue;
            }
            let (ns, name) = key(&pod);
            let _ = self.provider.delete_pod(&pod).await;
            let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
            let mut conditions = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            conditions.retain(|c| {
                c.type_ != "DisruptionTarget" && c.type_ != "Ready" && c.type_ != "ContainersReady"
            });
            for (kind, reason) in [
                ("DisruptionTarget", "DeletionByPodGC"),
                ("Ready", "PodFailed"),
                ("ContainersReady", "PodFailed"),
            ] {
                conditions.push(k8s_openapi::api::core::v1::PodCondition {
                    type_: kind.into(),
                    status: if kind == "DisruptionTarget" {
                        "True"
                    } else {
                        "False"
                    }
                    .into(),
                    reason: Some(reason.into()),
                    message: (kind == "DisruptionTarget")
                        .then(|| "PodGC: node no longer exists".to_string()),
                    last_transition_time: Some(now.clone()),
                    ..Default::default()
                });
            }
            self.writer.push(
                &ns,
                &name,
                serde_json::json!({
                    "phase": "Failed",
                    "reason": "NodeLost",
                    "message": format!("Node {node} which was running pod {name} is gone"),
                    "conditions": conditions,
                }),
            );
        }
    }
}
