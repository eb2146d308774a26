use super::*;
use k8s_openapi::api::core::v1::{
    Affinity, Container, NodeAffinity, NodeSelector, PodSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

fn node(name: &str, cpu: &str, labels: &[(&str, &str)]) -> NodeView {
    NodeView {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        allocatable: [
            ("cpu".to_string(), crds::quantity::parse_milli(cpu).unwrap()),
            (
                "memory".to_string(),
                crds::quantity::parse_milli("8Gi").unwrap(),
            ),
            ("pods".to_string(), 110_000),
        ]
        .into(),
        ..Default::default()
    }
}

fn pod(cpu: &str) -> Pod {
    Pod {
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                resources: Some(ResourceRequirements {
                    requests: Some([("cpu".to_string(), Quantity(cpu.into()))].into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn message_matches_upstream_format() {
    let mut p = pod("3");
    p.spec.as_mut().unwrap().node_selector = Some([("zone".to_string(), "a".to_string())].into());
    let n1 = node("n1", "4", &[("zone", "b")]);
    let n2 = node("n2", "2", &[("zone", "a")]);
    let n3 = node("n3", "1", &[("zone", "a")]);
    let err = schedule(&p, &[&n1, &n2, &n3], 0).unwrap_err();
    assert_eq!(
        err,
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."
    );
}

#[test]
fn picks_the_least_allocated_fitting_node() {
    let p = pod("1");
    let small = node("small", "2", &[]);
    let big = node("big", "8", &[]);
    assert_eq!(schedule(&p, &[&small, &big], 0).unwrap().0, "big");
}

#[test]
fn taints_and_tolerations() {
    let mut n = node("n", "4", &[]);
    n.taints = vec![Taint {
        key: "virtual-kubelet.io/provider".into(),
        value: Some("nodesim".into()),
        effect: "NoSchedule".into(),
        ..Default::default()
    }];
    let mut p = pod("1");
    let req = pod_requests(&p, &Resources::new());
    assert_eq!(
        filter(&p, &req, &n).unwrap_err(),
        vec!["node(s) had untolerated taint {virtual-kubelet.io/provider: nodesim}".to_string()]
    );
    p.spec.as_mut().unwrap().tolerations = Some(vec![Toleration {
        key: Some("virtual-kubelet.io/provider".into()),
        operator: Some("Exists".into()),
        ..Default::default()
    }]);
    assert!(filter(&p, &req, &n).is_ok());
    // PreferNoSchedule never filters.
    n.taints[0].effect = "PreferNoSchedule".into();
    assert!(filter(&pod("1"), &req, &n).is_ok());
}

#[test]
fn max_pods_and_unschedulable() {
    let mut n = node("n", "4", &[]);
    n.allocatable.insert("pods".into(), 2000);
    n.pods = 2;
    let p = pod("1");
    let req = pod_requests(&p, &Resources::new());
    assert_eq!(
        filter(&p, &req, &n).unwrap_err(),
        vec!["Too many pods".to_string()]
    );
    let mut n = node("n", "4", &[]);
    n.unschedulable = true;
    assert_eq!(
        filter(&p, &req, &n).unwrap_err(),
        vec!["node(s) were unschedulable".to_string()]
    );
}

#[test]
fn required_node_affinity_terms() {
    let mut p = pod("1");
    p.spec.as_mut().unwrap().affinity = Some(Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: "gpu".into(),
                        operator: "Gt".into(),
                        values: Some(vec!["1".into()]),
                    }]),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let req = pod_requests(&p, &Resources::new());
    assert!(filter(&p, &req, &node("a", "4", &[("gpu", "2")])).is_ok());
    assert!(filter(&p, &req, &node("b", "4", &[("gpu", "1")])).is_err());
    assert!(filter(&p, &req, &node("c", "4", &[])).is_err());
}

#[test]
fn defaults_apply_to_pods_without_requests() {
    let p = Pod {
        spec: Some(PodSpec {
            containers: vec![Container::default()],
            ..Default::default()
        }),
        ..Default::default()
    };
    let defaults: Resources = [("cpu".to_string(), 250)].into();
    assert_eq!(pod_requests(&p, &defaults).get("cpu"), Some(&250));
    assert_eq!(nodes_to_find(1000), 420);
    assert_eq!(nodes_to_find(50), 50);
}
