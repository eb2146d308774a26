//! The scheduler: pure decisions in [`decide`], fed by the shared pod and node watches; binds
//! through `pods/binding` with bounded concurrency and records `PodScheduled=False` with
//! reason `Unschedulable` for pods that fit nowhere.

pub mod decide;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use tokio::sync::{Semaphore, mpsc};

use self::decide::{NodeView, Resources, pod_requests, schedule};
use crate::events::{Recorder, Source};
use crate::metrics::Metrics;

type Key = (String, String);

/// Inputs of the scheduler loop.
#[derive(Debug)]
pub enum Event {
    /// A pod was added or changed.
    Pod(Box<Pod>),
    /// A pod is gone.
    PodDeleted(Box<Pod>),
    /// A node was added or changed.
    Node(Box<Node>),
    /// A node is gone.
    NodeDeleted(String),
    /// A binding failed; the pod goes back to the queue.
    BindFailed(Box<Pod>, String),
}

fn key(pod: &Pod) -> Key {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

fn active(pod: &Pod) -> bool {
    !matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Scheduler state: node views with what is assigned to them, and the queue.
pub struct Scheduler {
    name: String,
    client: Client,
    nodes: BTreeMap<String, NodeView>,
    assigned: HashMap<Key, (String, Resources)>,
    queue: BTreeMap<Key, Pod>,
    /// Pods that fit nowhere; retried when the cluster changes (a node or a freed pod) or on
    /// the periodic flush, as kube-scheduler's unschedulable queue.
    unschedulable: BTreeMap<Key, Pod>,
    reported: HashMap<Key, String>,
    defaults: HashMap<String, Resources>,
    rotate: usize,
    bind_slots: Arc<Semaphore>,
    metrics: Metrics,
    tx: mpsc::UnboundedSender<Event>,
    recorder: Recorder,
}

impl Scheduler {
    /// Runs the loop until `cancel` fires. `defaults` maps node names to the default requests
    /// of their pool.
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        name: String,
        client: Client,
        defaults: HashMap<String, Resources>,
        bind_workers: usize,
        metrics: Metrics,
        tx: mpsc::UnboundedSender<Event>,
        mut rx: mpsc::UnboundedReceiver<Event>,
        recorder: Recorder,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        let mut s = Scheduler {
            name,
            client,
            nodes: BTreeMap::new(),
            assigned: HashMap::new(),
            queue: BTreeMap::new(),
            unschedulable: BTreeMap::new(),
            reported: HashMap::new(),
            defaults,
            rotate: 0,
            bind_slots: Arc::new(Semaphore::new(bind_workers.max(1))),
            metrics,
            tx,
            recorder,
        };
        let mut retry = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                ev = rx.recv() => {
                    let Some(ev) = ev else { break };
                    s.apply(ev);
                    while let Ok(ev) = rx.try_recv() {
                        s.apply(ev);
                    }
                }
                _ = retry.tick() => s.requeue(),
            }
            s.pass().await;
        }
    }

    /// Moves unschedulable pods back to the active queue.
    fn requeue(&mut self) {
        let waiting = std::mem::take(&mut self.unschedulable);
        self.queue.extend(waiting);
    }

    fn unassign(&mut self, k: &Key) {
        if let Some((node, req)) = self.assigned.remove(k)
            && let Some(n) = self.nodes.get_mut(&node)
        {
            // Capacity was freed: waiting pods may fit now.
            let waiting = std::mem::take(&mut self.unschedulable);
            self.queue.extend(waiting);
            n.pods -= 1;
            for (r, v) in req {
                *n.requested.entry(r).or_default() -= v;
            }
        }
    }

    fn assign(&mut self, k: Key, node: &str, req: Resources) {
        self.unassign(&k);
        if let Some(n) = self.nodes.get_mut(node) {
            n.pods += 1;
            for (r, v) in &req {
                *n.requested.entry(r.clone()).or_default() += v;
            }
        }
        self.assigned.insert(k, (node.to_string(), req));
    }

    fn defaults_for(&self, node: &str) -> Resources {
        self.defaults.get(node).cloned().unwrap_or_default()
    }

    fn apply(&mut self, ev: Event) {
        match ev {
            Event::Pod(pod) => {
                let k = key(&pod);
                let node = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .filter(|n| !n.is_empty());
                match node {
                    Some(node) => {
                        self.queue.remove(&k);
                        self.unschedulable.remove(&k);
                        self.reported.remove(&k);
                        if active(&pod) && pod.metadata.deletion_timestamp.is_none() {
                            let req = pod_requests(&pod, &self.defaults_for(&node));
                            if self.assigned.get(&k).map(|(n, _)| n) != Some(&node) {
                                self.assign(k, &node, req);
                            }
                        } else {
                            self.unassign(&k);
                        }
                    }
                    None => {
                        let mine = pod
                            .spec
                            .as_ref()
                            .and_then(|s| s.scheduler_name.as_deref())
                            .unwrap_or("default-scheduler")
                            == self.name;
                        if mine
                            && active(&pod)
                            && pod.metadata.deletion_timestamp.is_none()
                            && !self.assigned.contains_key(&k)
                        {
                            self.queue.insert(k, *pod);
                        } else if pod.metadata.deletion_timestamp.is_some() {
                            self.queue.remove(&k);
                        }
                    }
                }
            }
            Event::PodDeleted(pod) => {
                let k = key(&pod);
                self.queue.remove(&k);
                self.unschedulable.remove(&k);
                self.reported.remove(&k);
                self.unassign(&k);
            }
            Event::Node(node) => {
                let mut view = NodeView::from_node(&node);
                view.default_requests = self.defaults_for(&view.name);
                let mut changed = true;
                if let Some(old) = self.nodes.get(&view.name) {
                    view.requested = old.requested.clone();
                    view.pods = old.pods;
                    changed = old.labels != view.labels
                        || old.taints != view.taints
                        || old.allocatable != view.allocatable
                        || old.unschedulable != view.unschedulable;
                }
                self.nodes.insert(view.name.clone(), view);
                if changed {
                    self.requeue();
                }
            }
            Event::NodeDeleted(name) => {
                self.nodes.remove(&name);
            }
            Event::BindFailed(pod, why) => {
                let k = key(&pod);
                tracing::debug!(namespace = %k.0, pod = %k.1, error = %why, "binding failed");
                self.unassign(&k);
                self.queue.insert(k, *pod);
            }
        }
    }

    async fn pass(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let queue = std::mem::take(&mut self.queue);
        let started = std::time::Instant::now();
        let queued = queue.len();
        for (k, pod) in queue {
            let views: Vec<&NodeView> = self.nodes.values().collect();
            let start = self.rotate;
            self.rotate = self.rotate.wrapping_add(1);
            match schedule(&pod, &views, start) {
                Ok((node, req)) => {
                    self.assign(k.clone(), &node, req);
                    self.reported.remove(&k);
                    self.bind(k, pod, node).await;
                }
                Err(message) => {
                    self.metrics.unschedulable.inc();
                    if self.reported.get(&k) != Some(&message) {
                        self.reported.insert(k.clone(), message.clone());
                        self.report(&k, &pod, message);
                    }
                    self.unschedulable.insert(k, pod);
                }
            }
        }
        tracing::debug!(
            queued,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "scheduling pass"
        );
    }

    async fn bind(&self, k: Key, pod: Pod, node: String) {
        let Ok(permit) = self.bind_slots.clone().acquire_owned().await else {
            return;
        };
        let client = self.client.clone();
        let tx = self.tx.clone();
        let metrics = self.metrics.clone();
        let recorder = self.recorder.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let sent = std::time::Instant::now();
            let api: Api<Pod> = Api::namespaced(client, &k.0);
            let body = serde_json::json!({
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": k.1, "namespace": k.0, "uid": pod.metadata.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            });
            match api
                .create_subresource::<_, serde_json::Value>(
                    "binding",
                    &k.1,
                    &PostParams::default(),
                    &body,
                )
                .await
            {
                Ok(_) => {
                    metrics.bindings.inc();
                    recorder.pod(
                        &pod,
                        scheduler_source(),
                        false,
                        "Scheduled",
                        format!("Successfully assigned {}/{} to {node}", k.0, k.1),
                    );
                    tracing::trace!(latency_ms = sent.elapsed().as_millis() as u64, "bound");
                }
                // Already bound or gone: the watch brings the truth.
                Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {}
                Err(e) => {
                    let _ = tx.send(Event::BindFailed(Box::new(pod), e.to_string()));
                }
            }
        });
    }

    fn report(&self, k: &Key, pod: &Pod, message: String) {
        self.recorder.pod(
            pod,
            scheduler_source(),
            true,
            "FailedScheduling",
            message.clone(),
        );
        let client = self.client.clone();
        let k = k.clone();
        tokio::spawn(async move {
            let api: Api<Pod> = Api::namespaced(client, &k.0);
            let patch = serde_json::json!({"status": {"conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": null,
                "lastTransitionTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
            }]}});
            if let Err(e) = api
                .patch_status(&k.1, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                tracing::debug!(error = %e, "could not record unschedulable condition");
            }
        });
    }
}

/// The scheduler as an event source.
fn scheduler_source() -> Source {
    Source {
        component: "default-scheduler",
        host: None,
    }
}
