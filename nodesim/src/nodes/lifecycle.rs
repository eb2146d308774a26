//! The node's life on the API server: registration (and re-registration keeping what admins
//! changed), status updates, Lease renewal, the per-node loop, deletion.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Namespace, Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};

use super::error::NodeError;
use super::readiness::{ready_of, with_readiness_taint};
use super::setup::NodeSetup;
use crate::config::HeartbeatConfig;
use crate::provider::PodProvider;

/// Namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

fn api_err<'a>(what: &'static str, node: &'a str) -> impl FnOnce(kube::Error) -> NodeError + 'a {
    move |source| NodeError::Api {
        what,
        node: node.to_string(),
        source,
    }
}

/// Creates the lease namespace if it is missing (a real control plane creates it).
pub async fn ensure_lease_namespace(client: &Client) -> Result<(), NodeError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(LEASE_NAMESPACE.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(api_err("creating namespace for", LEASE_NAMESPACE)(e)),
    }
}

/// The patch a re-registering kubelet sends for an existing node: its own labels set again
/// (other labels kept), taints as they are except for readiness, `unschedulable` untouched,
/// so that an admin's taints, labels and cordon survive a kubelet restart. `None` when
/// nothing changes.
pub fn reregistration_patch(
    existing: &Node,
    setup: &NodeSetup,
    ready: bool,
) -> Option<serde_json::Value> {
    let labels = existing.metadata.labels.clone().unwrap_or_default();
    let changed_labels: BTreeMap<&String, &String> = setup
        .kubelet_labels()
        .iter()
        .filter(|(k, v)| labels.get(*k) != Some(*v))
        .collect();
    let taints = existing
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let wanted = with_readiness_taint(&taints, ready);
    if changed_labels.is_empty() && wanted == taints {
        return None;
    }
    let mut patch = serde_json::json!({
        "metadata": {"resourceVersion": existing.metadata.resource_version},
    });
    if !changed_labels.is_empty() {
        patch["metadata"]["labels"] = serde_json::json!(changed_labels);
    }
    if wanted != taints {
        patch["spec"] = serde_json::json!({ "taints": wanted });
    }
    Some(patch)
}

/// Registers (or re-registers) a node and publishes its status.
pub async fn register(
    client: &Client,
    setup: &NodeSetup,
    conditions: Vec<NodeCondition>,
) -> Result<Node, NodeError> {
    let api: Api<Node> = Api::all(client.clone());
    let ready = ready_of(&conditions);
    let node = setup.node(conditions);
    let created = match api.create(&PostParams::default(), &node).await {
        Ok(n) => n,
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = api
                .get(&setup.name)
                .await
                .map_err(api_err("reading", &setup.name))?;
            match reregistration_patch(&existing, setup, ready) {
                // The resourceVersion in the patch makes a concurrent change a conflict, and
                // registration is retried.
                Some(patch) => api
                    .patch(&setup.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(api_err("updating", &setup.name))?,
                None => existing,
            }
        }
        Err(e) => return Err(api_err("registering", &setup.name)(e)),
    };
    let status = serde_json::json!({"status": node.status});
    api.patch_status(&setup.name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(api_err("updating status of", &setup.name))?;
    Ok(created)
}

/// Publishes a node status (and the not-ready taint when readiness changed).
pub async fn update_status(
    client: &Client,
    setup: &NodeSetup,
    conditions: Vec<NodeCondition>,
    taints_changed: bool,
) -> Result<(), NodeError> {
    let api: Api<Node> = Api::all(client.clone());
    if taints_changed {
        // Only the readiness taint is ours to change; the others stay (admins', controllers').
        let node = api
            .get(&setup.name)
            .await
            .map_err(api_err("reading", &setup.name))?;
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let wanted = with_readiness_taint(&taints, ready_of(&conditions));
        if wanted != taints {
            let patch = serde_json::json!({
                "metadata": {"resourceVersion": node.metadata.resource_version},
                "spec": {"taints": wanted},
            });
            api.patch(&setup.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(api_err("updating taints of", &setup.name))?;
        }
    }
    let status = serde_json::json!({"status": {"conditions": conditions}});
    api.patch_status(&setup.name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(api_err("updating status of", &setup.name))?;
    Ok(())
}

/// Creates or renews the node's Lease.
pub async fn renew_lease(
    client: &Client,
    node: &Node,
    hb: &HeartbeatConfig,
) -> Result<(), NodeError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let now = MicroTime(jiff::Timestamp::now());
    let duration = i32::try_from(hb.lease_duration.as_secs()).unwrap_or(40);
    let patch = serde_json::json!({"spec": {"renewTime": now, "holderIdentity": name, "leaseDurationSeconds": duration}});
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(LEASE_NAMESPACE.into()),
                    owner_references: node.metadata.uid.clone().map(|uid| {
                        vec![OwnerReference {
                            api_version: "v1".into(),
                            kind: "Node".into(),
                            name: name.clone(),
                            uid,
                            ..Default::default()
                        }]
                    }),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(name.clone()),
                    lease_duration_seconds: Some(duration),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
                Err(e) => Err(api_err("creating lease of", &name)(e)),
            }
        }
        Err(e) => Err(api_err("renewing lease of", &name)(e)),
    }
}

/// Runs one node: registers it, then renews its lease and reports status until cancelled.
pub async fn run_node(
    client: Client,
    provider: Arc<dyn PodProvider>,
    setup: NodeSetup,
    hb: HeartbeatConfig,
    metrics: crate::metrics::Metrics,
    cancel: tokio_util::sync::CancellationToken,
    registered: tokio::sync::mpsc::Sender<String>,
) {
    let node = loop {
        let conditions = provider.node_conditions(&setup.name);
        match register(&client, &setup, conditions).await {
            Ok(n) => break n,
            Err(e) => {
                tracing::warn!(error = %e, "node registration failed; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
            }
        }
    };
    if let Err(e) = renew_lease(&client, &node, &hb).await {
        tracing::warn!(error = %e, "lease creation failed");
    } else {
        metrics.lease_renewals.inc();
    }
    metrics.nodes.inc();
    let _ = registered.send(setup.name.clone()).await;
    let mut renew = tokio::time::interval(hb.renew_interval);
    let mut status = tokio::time::interval(hb.status_interval);
    // Conditions are polled more often than they are published, to publish changes at once.
    let mut poll = tokio::time::interval(hb.renew_interval.min(std::time::Duration::from_secs(1)));
    renew.tick().await;
    status.tick().await;
    let mut last_ready = ready_of(&provider.node_conditions(&setup.name));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = renew.tick() => {
                match renew_lease(&client, &node, &hb).await {
                    Ok(()) => metrics.lease_renewals.inc(),
                    Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
                }
            }
            _ = status.tick() => {
                let conditions = provider.node_conditions(&setup.name);
                let ready = ready_of(&conditions);
                if update_status(&client, &setup, conditions, ready != last_ready).await.is_ok() {
                    metrics.node_status_updates.inc();
                    last_ready = ready;
                }
            }
            _ = poll.tick() => {
                let conditions = provider.node_conditions(&setup.name);
                let ready = ready_of(&conditions);
                if ready != last_ready {
                    match update_status(&client, &setup, conditions, true).await {
                        Ok(()) => {
                            metrics.node_status_updates.inc();
                            last_ready = ready;
                        }
                        Err(e) => tracing::warn!(error = %e, "node status update failed"),
                    }
                }
            }
        }
    }
    metrics.nodes.dec();
}

/// Removes a node from the API (the "node disappears" failure): its Lease and the Node.
pub async fn delete_node(client: &Client, name: &str) -> Result<(), NodeError> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let _ = leases.delete(name, &Default::default()).await;
    let nodes: Api<Node> = Api::all(client.clone());
    match nodes.delete(name, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(api_err("deleting", name)(e)),
    }
}
