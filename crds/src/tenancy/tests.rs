use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::*;
use crate::{VirtualCluster, VirtualClusterSpec, VirtualClusterStatus};

fn vc(ns: &str, name: &str, uid: &str) -> VirtualCluster {
    let mut vc = VirtualCluster::new(name, VirtualClusterSpec::default());
    vc.metadata.namespace = Some(ns.to_string());
    vc.metadata.uid = Some(uid.to_string());
    vc
}

#[test]
fn cluster_key_matches_upstream_format() {
    let key = cluster_key(&vc(
        "default",
        "vc-sample-1",
        "d5d6e3c5-1b36-4b39-9f6e-3d0b1b0b7f6a",
    ))
    .unwrap_or_default();
    let hash = short_hash("d5d6e3c5-1b36-4b39-9f6e-3d0b1b0b7f6a", 6);
    assert_eq!(key, format!("default-{hash}-vc-sample-1"));
    assert!(is_dns1123_label(&key));
}

#[test]
fn cluster_key_prefers_status_cluster_namespace() {
    let mut v = vc("default", "x", "uid");
    v.status = Some(VirtualClusterStatus {
        cluster_namespace: Some("custom-root".into()),
        ..Default::default()
    });
    assert_eq!(cluster_key(&v), Ok("custom-root".to_string()));
    v.status = Some(VirtualClusterStatus {
        cluster_namespace: Some("Not_Valid".into()),
        ..Default::default()
    });
    assert!(matches!(
        cluster_key(&v),
        Err(ContractError::InvalidName { .. })
    ));
}

#[test]
fn cluster_key_errors_on_missing_or_invalid_input() {
    let mut v = vc("default", "x", "uid");
    v.metadata.uid = None;
    assert_eq!(
        cluster_key(&v),
        Err(ContractError::MissingField("VirtualCluster metadata.uid"))
    );
    assert!(cluster_key_for("Bad", "x", "u").is_err());
    assert!(cluster_key_for("ns", "-x", "u").is_err());
    assert!(cluster_key_for("ns", "x", "").is_err());
}

#[test]
fn long_cluster_key_is_shortened_to_a_label() {
    let name = "a".repeat(200);
    let key = cluster_key_for("tenants", &name, "uid-1").unwrap_or_default();
    assert_eq!(key.len(), DNS1123_LABEL_MAX);
    assert!(is_dns1123_label(&key), "{key}");
    let other = cluster_key_for("tenants", &format!("{name}b"), "uid-1").unwrap_or_default();
    assert_ne!(key, other);
}

#[test]
fn dotted_vc_names_give_valid_distinct_keys() {
    let dotted = cluster_key_for("ns", "a.b", "u").unwrap_or_default();
    let dashed = cluster_key_for("ns", "a-b", "u").unwrap_or_default();
    assert!(is_dns1123_label(&dotted), "{dotted}");
    assert_ne!(dotted, dashed);
}

#[test]
fn super_namespace_joins_and_shortens() {
    assert_eq!(
        super_namespace("key", "default"),
        Ok("key-default".to_string())
    );
    let key = "k".repeat(40);
    let ns = "n".repeat(40);
    let full = format!("{key}-{ns}");
    let got = super_namespace(&key, &ns).unwrap_or_default();
    assert_eq!(got.len(), 63);
    assert_eq!(got, format!("{}-{}", &full[..57], short_hash(&full, 5)));
    assert!(is_dns1123_label(&got));
}

#[test]
fn super_namespace_rejects_invalid_input() {
    assert!(super_namespace("key", "").is_err());
    assert!(super_namespace("key", "UPPER").is_err());
    assert!(super_namespace("key", "a.b").is_err());
    assert!(super_namespace("", "ns").is_err());
    assert!(super_namespace(&"x".repeat(64), "ns").is_err());
}

#[test]
fn labels_are_valid_even_for_long_vc_names() {
    let tenant = TenantId {
        cluster_key: "k".into(),
        vc_name: "v".repeat(200),
        vc_namespace: "ns".into(),
        vc_uid: "u".into(),
    };
    for v in tenant.labels().values() {
        assert!(v.len() <= 63, "{v}");
    }
}

#[test]
fn origin_round_trips_through_annotations() {
    let tenant = TenantId {
        cluster_key: "ns-abcdef-vc".into(),
        vc_name: "vc".into(),
        vc_namespace: "ns".into(),
        vc_uid: "vcuid".into(),
    };
    let ann = tenant.object_annotations("poduid", "default", &[]);
    let origin = TenantOrigin::from_annotations(&ann);
    assert_eq!(
        origin,
        Some(TenantOrigin {
            cluster_key: "ns-abcdef-vc".into(),
            namespace: "default".into(),
            uid: Some("poduid".into()),
            vc_name: Some("vc".into()),
            vc_namespace: Some("ns".into()),
        })
    );
    assert!(owned_by(&ann, "ns-abcdef-vc"));
    assert!(!owned_by(&ann, "ns-abcdef-vc2"));
    assert_eq!(TenantOrigin::from_annotations(&BTreeMap::new()), None);
    assert_eq!(
        ann.get(ANNOTATION_OWNER_REFERENCES).map(String::as_str),
        Some("[]")
    );
    let root = tenant.root_namespace_annotations();
    assert_eq!(
        root.get(ANNOTATION_VC_ROOT_NS).map(String::as_str),
        Some("true")
    );
}

fn kv(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn downward_drops_tenant_super_owned_keys_and_keeps_super_ones() {
    let rules = MetaRules::new(&["example.com/".into()], &["cloud.io/".into()]);
    let tenant = kv(&[
        ("app", "web"),
        ("tenancy.x-k8s.io/cluster", "forged"),
        ("example.com/owner", "tenant"),
        ("cloud.io/lb", "tenant"),
    ]);
    let existing = kv(&[
        ("app", "old"),
        ("gone", "x"),
        ("example.com/owner", "super"),
        ("cloud.io/lb", "id-1"),
    ]);
    let merged = rules.merge_downward(&tenant, Some(&existing));
    assert_eq!(
        merged,
        kv(&[
            ("app", "web"),
            ("example.com/owner", "super"),
            ("cloud.io/lb", "id-1")
        ])
    );
}

#[test]
fn upward_copies_transparent_keys_only() {
    let rules = MetaRules::new(&[], &["cloud.io/".into()]);
    let sup = kv(&[
        ("transparency.tenancy.x-k8s.io/clusterIP", "10.0.0.1"),
        ("cloud.io/lb", "id-1"),
        ("tenancy.x-k8s.io/cluster", "k"),
        ("app", "web"),
    ]);
    let tenant = kv(&[("app", "web"), ("mine", "1")]);
    assert_eq!(
        rules.merge_upward(&sup, &tenant),
        kv(&[
            ("app", "web"),
            ("mine", "1"),
            ("transparency.tenancy.x-k8s.io/clusterIP", "10.0.0.1"),
            ("cloud.io/lb", "id-1")
        ])
    );
}

#[test]
fn selectors_drop_exactly_the_labels_pods_lose() {
    let rules = MetaRules::new(&["example.com/".into()], &[]);
    let pod_labels = kv(&[
        ("app", "web"),
        ("example.com/x", "1"),
        ("tenancy.x-k8s.io/y", "2"),
    ]);
    let selector = pod_labels.clone();
    let super_labels = rules.merge_downward(&pod_labels, None);
    let super_selector = rules.selector_downward(&selector);
    assert!(
        super_selector
            .iter()
            .all(|(k, v)| super_labels.get(k) == Some(v))
    );
    assert_eq!(super_selector, kv(&[("app", "web")]));
}

fn label_strategy() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?"
}

proptest! {
    /// Different (tenant, namespace) pairs never share a super namespace, including near-collisions
    /// built to confuse concatenation ("a-b"+"c" vs "a"+"b-c") and long names that get shortened.
    #[test]
    fn super_namespaces_are_injective_across_tenants(
        vcs in proptest::collection::vec((label_strategy(), label_strategy(), "[a-f0-9-]{8,36}"), 2..6),
        nss in proptest::collection::vec(label_strategy(), 1..6),
    ) {
        let mut seen: HashMap<String, (String, String)> = HashMap::new();
        let mut keys = HashMap::new();
        for (vns, vname, uid) in &vcs {
            let key = cluster_key_for(vns, vname, uid).unwrap_or_default();
            prop_assert!(is_dns1123_label(&key), "{key}");
            keys.insert((vns.clone(), vname.clone()), key);
        }
        for key in keys.values() {
            for ns in &nss {
                let sup = super_namespace(key, ns).unwrap_or_default();
                prop_assert!(is_dns1123_label(&sup), "{sup}");
                if let Some(prev) = seen.insert(sup.clone(), (key.clone(), ns.clone())) {
                    prop_assert_eq!(prev, (key.clone(), ns.clone()), "collision on {}", sup);
                }
            }
        }
    }

    /// Whatever the input, the mapping either errors or returns a valid namespace name.
    #[test]
    fn never_emits_invalid_names(key in ".{0,80}", ns in ".{0,80}") {
        if let Ok(sup) = super_namespace(&key, &ns) {
            prop_assert!(is_dns1123_label(&sup));
        }
        if let Ok(k) = cluster_key_for(&key, &ns, "uid") {
            prop_assert!(is_dns1123_label(&k));
        }
    }
}
