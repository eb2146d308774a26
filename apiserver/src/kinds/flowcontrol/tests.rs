//! FlowSchema and PriorityLevelConfiguration strategy tests.
use super::*;

#[test]
fn v1beta2_shares_convert_and_default() {
    let v1beta2 = PriorityLevel { v1beta2: true };
    let mut served = json!({"metadata": {"name": "p"}, "spec": {"type": "Limited",
        "limited": {"limitResponse": {"type": "Queue", "queuing": {"queues": 0}}}}});
    v1beta2.defaults(&mut served);
    assert_eq!(
        served["spec"]["limited"],
        json!({"assuredConcurrencyShares": 30, "lendablePercent": 0, "limitResponse":
            {"type": "Queue", "queuing": {"queues": 64, "handSize": 8, "queueLengthLimit": 50}}})
    );
    let stored = v1beta2.to_stored(served.clone());
    assert_eq!(stored["spec"]["limited"]["nominalConcurrencyShares"], 30);
    assert_eq!(v1beta2.to_served(stored), served);
    assert!(v1beta2.validate(None, &served, Origin::Client).is_empty());
}

#[test]
fn non_resource_urls_and_entropy() {
    let mut out = Vec::new();
    let rule = json!({"verbs": ["get"], "nonResourceURLs": ["/ok/*", "/a/*/b", "/x//y", "/"]});
    validate_non_resource_rule(&mut out, "r", &rule);
    let shown: Vec<String> = out.iter().map(Cause::display).collect();
    assert_eq!(
        shown,
        [
            r#"r.nonResourceURLs[1]: Invalid value: "/a/*/b": wildcard can only do suffix matching"#,
            r#"r.nonResourceURLs[2]: Invalid value: "/x//y": must not contain double slash"#,
        ]
    );
    assert!(entropy_bits(64, 8) <= 60.0 && entropy_bits(1_000_000_000, 50) > 60.0);
}

#[test]
fn beta_versions_travel_as_protobuf() {
    for (version, shares) in [
        ("v1beta2", "assuredConcurrencyShares"),
        ("v1beta3", "nominalConcurrencyShares"),
    ] {
        let obj = json!({"apiVersion": format!("flowcontrol.apiserver.k8s.io/{version}"),
            "kind": "PriorityLevelConfiguration", "metadata": {"name": "p"},
            "spec": {"type": "Limited", "limited": {shares: 7, "lendablePercent": 0,
                "limitResponse": {"type": "Reject"}}}, "status": {}});
        let body = crate::protobuf::encode(&obj).unwrap_or_default();
        let back = crate::protobuf::decode(&body).unwrap_or_default();
        assert_eq!(back["spec"], obj["spec"], "{version}");
    }
}
