use k8s_openapi::api::core::v1::Taint;

use super::*;
use crate::config::{LABEL_NODE_CLASS, PoolConfig, TAINT_PROVIDER};

#[test]
fn pools_expand_into_labelled_nodes_with_cidrs() {
    let pools = vec![
        PoolConfig {
            name: "gpu".into(),
            count: 2,
            gpu: 4,
            node_class: Some("3f1a...".into()),
            flavor: Some("g.large".into()),
            provider_taint: true,
            ..Default::default()
        },
        PoolConfig {
            name: "cpu".into(),
            count: 1,
            ..Default::default()
        },
    ];
    let nodes = plan_nodes(
        &pools,
        "nodesim",
        "127.0.0.1".parse().unwrap(),
        10250,
        "10.64.0.0/16".parse().unwrap(),
        "linux",
    )
    .unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[1].name, "gpu-1");
    assert_eq!(nodes[1].pod_cidr.to_string(), "10.64.1.0/24");
    assert_eq!(nodes[0].capacity["nvidia.com/gpu"].0, "4");
    assert_eq!(nodes[0].labels[LABEL_NODE_CLASS], "3f1a...");
    assert_eq!(nodes[0].labels["kubernetes.io/hostname"], "gpu-0");
    assert_eq!(nodes[0].taints[0].key, TAINT_PROVIDER);
    assert!(!nodes[2].capacity.contains_key("nvidia.com/gpu"));
    let n = nodes[2].node(vec![]);
    // No Ready=True condition: the not-ready taint is applied.
    assert!(
        n.spec
            .unwrap()
            .taints
            .unwrap()
            .iter()
            .any(|t| t.key == TAINT_NOT_READY)
    );
    let st = nodes[2].status(vec![]);
    assert_eq!(
        st.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port,
        10250
    );
    let err = plan_nodes(
        &pools,
        "x",
        "127.0.0.1".parse().unwrap(),
        1,
        "10.0.0.0/23".parse().unwrap(),
        "linux",
    )
    .unwrap_err();
    assert!(err.to_string().contains("no /24 left"));
}

fn setup(address: &str) -> NodeSetup {
    plan_nodes(
        &[PoolConfig {
            name: "p".into(),
            count: 1,
            ..Default::default()
        }],
        "nodesim",
        address.parse().unwrap(),
        10250,
        "10.64.0.0/16".parse().unwrap(),
        "linux",
    )
    .unwrap()
    .remove(0)
}

#[test]
fn addresses_put_internal_ip_first_and_a_resolvable_hostname_after() {
    for (ip, host) in [("127.0.0.1", "localhost"), ("10.1.2.3", "10.1.2.3")] {
        let st = setup(ip).status(vec![]);
        let addrs: Vec<(String, String)> = st
            .addresses
            .unwrap()
            .into_iter()
            .map(|a| (a.type_, a.address))
            .collect();
        assert_eq!(
            addrs,
            vec![
                ("InternalIP".to_string(), ip.to_string()),
                ("Hostname".to_string(), host.to_string())
            ]
        );
    }
}

fn taint(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        effect: effect.into(),
        ..Default::default()
    }
}

#[test]
fn readiness_changes_only_the_not_ready_taint() {
    let admin = taint("dedicated", "NoSchedule");
    let not_ready = taint(TAINT_NOT_READY, "NoSchedule");
    assert_eq!(
        with_readiness_taint(std::slice::from_ref(&admin), false),
        vec![admin.clone(), not_ready.clone()]
    );
    assert_eq!(
        with_readiness_taint(&[not_ready.clone(), admin.clone()], true),
        vec![admin.clone()]
    );
    // The lifecycle controller's NoExecute taint of the same key is not ours.
    let evict = taint(TAINT_NOT_READY, "NoExecute");
    assert_eq!(
        with_readiness_taint(std::slice::from_ref(&evict), true),
        vec![evict.clone()]
    );
}

#[test]
fn reregistration_keeps_admin_taints_labels_and_cordon() {
    let s = setup("127.0.0.1");
    let mut existing = s.node(vec![]);
    existing.metadata.resource_version = Some("7".into());
    let labels = existing.metadata.labels.get_or_insert_default();
    labels.insert("team".into(), "a".into());
    labels.insert("kubernetes.io/hostname".into(), "changed".into());
    let spec = existing.spec.get_or_insert_default();
    spec.unschedulable = Some(true);
    spec.taints = Some(vec![taint("dedicated", "NoSchedule")]);
    let patch = reregistration_patch(&existing, &s, false).unwrap();
    // Only the kubelet's own label that changed is set again; nothing else is removed.
    assert_eq!(
        patch["metadata"]["labels"],
        serde_json::json!({"kubernetes.io/hostname": "p-0"})
    );
    assert_eq!(patch["metadata"]["resourceVersion"], "7");
    assert_eq!(
        patch["spec"]["taints"],
        serde_json::json!([
            {"key": "dedicated", "effect": "NoSchedule"},
            {"key": TAINT_NOT_READY, "effect": "NoSchedule"}
        ])
    );
    assert!(patch["spec"].get("unschedulable").is_none());
    // An up-to-date node needs no patch.
    let mut same = s.node(vec![]);
    same.metadata.resource_version = Some("8".into());
    assert!(reregistration_patch(&same, &s, false).is_none());
}
