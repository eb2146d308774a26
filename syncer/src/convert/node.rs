//! Virtual nodes: the tenant's view of a super node its pods run on, pointing its kubelet
//! endpoint at vn-agent, plus the node Lease that keeps it alive in the tenant.

use std::collections::BTreeMap;

use crds::tenancy;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{DaemonEndpoint, Node, NodeDaemonEndpoints, NodeSpec, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};

/// Namespace of node Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// Lease duration the kubelet uses (seconds).
pub const NODE_LEASE_DURATION_SECONDS: i32 = 40;

/// The virtual node for super node `pnode`, with vn-agent on `vn_agent_port`.
pub fn virtual_node(pnode: &Node, vn_agent_port: u16) -> Node {
    let mut labels = pnode.metadata.labels.clone().unwrap_or_default();
    labels.insert(tenancy::LABEL_VIRTUAL_NODE.into(), "true".into());
    let pstatus = pnode.status.clone().unwrap_or_default();
    Node {
        metadata: ObjectMeta {
            name: pnode.metadata.name.clone(),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                "node.alpha.kubernetes.io/ttl".to_string(),
                "0".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            // Tenants see the node's CIDRs/provider but never schedule there themselves.
            pod_cidr: pnode.spec.as_ref().and_then(|s| s.pod_cidr.clone()),
            pod_cidrs: pnode.spec.as_ref().and_then(|s| s.pod_cidrs.clone()),
            provider_id: pnode.spec.as_ref().and_then(|s| s.provider_id.clone()),
            unschedulable: pnode.spec.as_ref().and_then(|s| s.unschedulable),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            addresses: pstatus.addresses.clone(),
            allocatable: pstatus.allocatable.clone(),
            capacity: pstatus.capacity.clone(),
            conditions: pstatus.conditions.clone(),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint {
                    port: i32::from(vn_agent_port),
                }),
            }),
            node_info: pstatus.node_info.clone(),
            phase: pstatus.phase.clone(),
            ..NodeStatus::default()
        }),
    }
}

/// A digest of what virtual nodes mirror of super node `pnode`: labels, spec, addresses,
/// resources, node info, phase and conditions without their timestamps. A super node event
/// that leaves it unchanged (a heartbeat) has nothing to copy to any tenant.
pub fn mirrored_digest(pnode: &Node) -> u64 {
    use std::hash::{Hash, Hasher};
    let status = pnode.status.as_ref();
    let conditions: Vec<_> = (status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten())
    .map(|c| (&c.type_, &c.status, &c.reason, &c.message))
    .collect();
    let mirrored = (
        &pnode.metadata.labels,
        &pnode.spec,
        status.map(|s| (&s.addresses, &s.allocatable, &s.capacity)),
        status.map(|s| (&s.node_info, &s.phase)),
        conditions,
    );
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    // Serializing cannot fail for these types; an empty digest would only mean "changed".
    serde_json::to_vec(&mirrored)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

/// Whether the tenant node's status differs from the desired one in what we mirror.
pub fn status_changed(desired: &Node, vnode: &Node) -> bool {
    let (Some(d), Some(v)) = (desired.status.as_ref(), vnode.status.as_ref()) else {
        return true;
    };
    let conds = |s: &NodeStatus| {
        s.conditions
            .iter()
            .flatten()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    d.addresses != v.addresses
        || d.capacity != v.capacity
        || d.allocatable != v.allocatable
        || d.daemon_endpoints != v.daemon_endpoints
        || d.node_info != v.node_info
        || conds(d) != conds(v)
}

/// Whether the virtual node's labels differ from the desired ones.
pub fn labels_changed(desired: &Node, vnode: &Node) -> bool {
    desired.metadata.labels != vnode.metadata.labels
}

/// Whether the super node is Ready (a virtual node's Lease is renewed only then).
pub fn is_ready(pnode: &Node) -> bool {
    pnode
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The node Lease of virtual node `vnode` renewed at `now`, owned by the node as the kubelet
/// does it.
pub fn lease(vnode: &Node, now: jiff::Timestamp) -> Lease {
    let name = vnode.metadata.name.clone().unwrap_or_default();
    Lease {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(NODE_LEASE_NAMESPACE.into()),
            owner_references: vnode.metadata.uid.clone().map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: name.clone(),
                    uid,
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(name),
            lease_duration_seconds: Some(NODE_LEASE_DURATION_SECONDS),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{NodeAddress, NodeCondition};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn pnode(ready: &str) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("node-1".into()),
                uid: Some("super-node-uid".into()),
                labels: Some(BTreeMap::from([("zone".into(), "a".into())])),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(NodeStatus {
                addresses: Some(vec![NodeAddress {
                    type_: "InternalIP".into(),
                    address: "10.0.0.7".into(),
                }]),
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    ..NodeCondition::default()
                }]),
                daemon_endpoints: Some(NodeDaemonEndpoints {
                    kubelet_endpoint: Some(DaemonEndpoint { port: 10250 }),
                }),
                ..NodeStatus::default()
            }),
        }
    }

    #[test]
    fn points_kubelet_at_vn_agent_and_labels() {
        let v = virtual_node(&pnode("True"), 10550);
        let labels = v.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get(tenancy::LABEL_VIRTUAL_NODE).map(String::as_str),
            Some("true")
        );
        assert_eq!(labels.get("zone").map(String::as_str), Some("a"));
        assert_eq!(v.metadata.uid, None);
        let st = v.status.clone().expect("status");
        assert_eq!(
            st.daemon_endpoints
                .and_then(|d| d.kubelet_endpoint)
                .map(|k| k.port),
            Some(10550)
        );
        assert_eq!(st.addresses.expect("addresses")[0].address, "10.0.0.7");
        assert!(!status_changed(&v, &v.clone()));
        assert!(status_changed(&virtual_node(&pnode("False"), 10550), &v));
        assert!(is_ready(&pnode("True")));
        assert!(!is_ready(&pnode("Unknown")));
    }

    #[test]
    fn heartbeats_leave_the_mirrored_digest_alone() {
        let beat = |n: &mut Node, at: &str| {
            let t: jiff::Timestamp = at.parse().expect("ts");
            for c in n
                .status
                .iter_mut()
                .flat_map(|s| s.conditions.iter_mut().flatten())
            {
                c.last_heartbeat_time = Some(Time(t));
            }
            n.metadata.resource_version = Some(at.into());
        };
        let (mut a, mut b) = (pnode("True"), pnode("True"));
        beat(&mut a, "2025-01-01T00:00:00Z");
        beat(&mut b, "2025-01-01T00:01:00Z");
        assert_eq!(mirrored_digest(&a), mirrored_digest(&b));
        assert_ne!(mirrored_digest(&a), mirrored_digest(&pnode("False")));
        let mut relabelled = pnode("True");
        relabelled.metadata.labels = Some(BTreeMap::from([("zone".into(), "b".into())]));
        assert_ne!(
            mirrored_digest(&pnode("True")),
            mirrored_digest(&relabelled)
        );
    }

    #[test]
    fn lease_is_owned_by_the_node() {
        let mut v = virtual_node(&pnode("True"), 10550);
        v.metadata.uid = Some("vnode-uid".into());
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().expect("ts");
        let l = lease(&v, now);
        assert_eq!(l.metadata.namespace.as_deref(), Some(NODE_LEASE_NAMESPACE));
        let spec = l.spec.expect("spec");
        assert_eq!(spec.holder_identity.as_deref(), Some("node-1"));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        assert_eq!(
            l.metadata.owner_references.expect("owner")[0].uid,
            "vnode-uid"
        );
    }
}
