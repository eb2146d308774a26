use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvVar, EphemeralContainer, PodAffinityTerm, PodCondition, PodSpec,
    PodStatus, SecretVolumeSource, ServicePort, Volume,
};
use k8s_openapi::api::core::v1::{
    Capabilities, PodAffinity, PodAntiAffinity, PodReadinessGate, ProjectedVolumeSource,
    SecurityContext, ServiceAccountTokenProjection, Toleration, VolumeProjection,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

use super::*;
use crate::convert::testutil::{ctx, vmeta};

fn vpod() -> Pod {
    let mut meta = vmeta("default", "web", "pod-uid");
    meta.labels = Some(BTreeMap::from([("app".into(), "web".into())]));
    Pod {
        metadata: meta,
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some("nginx:1".into()),
                env: Some(vec![EnvVar {
                    name: "MINE".into(),
                    value: Some("1".into()),
                    value_from: None,
                }]),
                ..Container::default()
            }],
            service_account_name: Some("default".into()),
            priority: Some(0),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..PodStatus::default()
        }),
    }
}

fn env_of(p: &Pod) -> BTreeMap<String, String> {
    p.spec.as_ref().expect("spec").containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn node_name_set_by_tenant_is_not_supported() {
    let mut p = vpod();
    if let Some(s) = p.spec.as_mut() {
        s.node_name = Some("n1".into());
    }
    match validate(&ctx(), &p) {
        Err(e @ ConvertError::NotSupported(_)) => assert_eq!(e.reason(), "NotSupported"),
        other => panic!("{other:?}"),
    }
    // Once the syncer bound it, the node name is ours.
    p.status = Some(PodStatus {
        host_ip: Some("10.0.0.1".into()),
        ..PodStatus::default()
    });
    assert_eq!(validate(&ctx(), &p), Ok(()));
}

#[test]
fn policy_violation_names_the_rule() {
    let mut p = vpod();
    if let Some(s) = p.spec.as_mut() {
        s.host_network = Some(true);
    }
    match validate(&ctx(), &p) {
        Err(ConvertError::PolicyViolation { rule, .. }) => assert_eq!(rule, "hostNamespaces"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn desired_pod_is_scrubbed_and_labelled() {
    let d = desired(&ctx(), &vpod(), PodInputs::default(), None).expect("desired");
    assert_eq!(
        d.metadata.namespace.as_deref(),
        Some("tenants-abc123-vc1-default")
    );
    let s = d.spec.as_ref().expect("spec");
    assert_eq!(s.node_name, None);
    assert_eq!(s.priority, None);
    assert_eq!(s.automount_service_account_token, Some(false));
    assert_eq!(s.enable_service_links, Some(false));
    assert_eq!(d.status, None);
    assert_eq!(
        kv(&d.metadata.labels).get("app").map(String::as_str),
        Some("web")
    );
    assert_eq!(
        kv(&d.metadata.annotations)
            .get(tenancy::ANNOTATION_UID)
            .map(String::as_str),
        Some("pod-uid")
    );
}

#[test]
fn placement_is_enforced() {
    let mut c = ctx();
    c.placement.node_selector = BTreeMap::from([("class".into(), "gold".into())]);
    c.placement.tolerations = vec![crds::PlacementToleration {
        key: Some("dedicated".into()),
        operator: Some("Exists".into()),
        ..Default::default()
    }];
    let mut p = vpod();
    if let Some(s) = p.spec.as_mut() {
        s.node_selector = Some(BTreeMap::from([
            ("class".into(), "cheap".into()),
            ("zone".into(), "a".into()),
        ]));
    }
    let d = desired(&c, &p, PodInputs::default(), None).expect("desired");
    let s = d.spec.expect("spec");
    let sel = s.node_selector.unwrap_or_default();
    assert_eq!(sel.get("class").map(String::as_str), Some("gold"));
    assert_eq!(sel.get("zone").map(String::as_str), Some("a"));
    assert_eq!(s.tolerations.unwrap_or_default().len(), 1);
}

#[test]
fn service_env_and_tenant_apiserver() {
    let services = vec![ServiceEnv {
        name: "redis-master".into(),
        cluster_ip: "10.96.0.20".into(),
        ports: vec![ServicePort {
            name: Some("redis".into()),
            port: 6379,
            protocol: Some("TCP".into()),
            ..ServicePort::default()
        }],
    }];
    let api = ApiEndpoint {
        ip: "10.96.0.9".into(),
        port: 6443,
    };
    let inputs = PodInputs {
        services: &services,
        apiserver: Some(&api),
        ..PodInputs::default()
    };
    let d = desired(&ctx(), &vpod(), inputs, None).expect("desired");
    let env = env_of(&d);
    assert_eq!(
        env.get("REDIS_MASTER_SERVICE_HOST").map(String::as_str),
        Some("10.96.0.20")
    );
    assert_eq!(
        env.get("REDIS_MASTER_SERVICE_PORT").map(String::as_str),
        Some("6379")
    );
    assert_eq!(
        env.get("REDIS_MASTER_SERVICE_PORT_REDIS")
            .map(String::as_str),
        Some("6379")
    );
    assert_eq!(
        env.get("REDIS_MASTER_PORT_6379_TCP").map(String::as_str),
        Some("tcp://10.96.0.20:6379")
    );
    assert_eq!(
        env.get("REDIS_MASTER_PORT_6379_TCP_ADDR")
            .map(String::as_str),
        Some("10.96.0.20")
    );
    assert_eq!(
        env.get("KUBERNETES_SERVICE_HOST").map(String::as_str),
        Some("10.96.0.9")
    );
    assert_eq!(
        env.get("KUBERNETES_SERVICE_PORT").map(String::as_str),
        Some("6443")
    );
    assert_eq!(env.get("MINE").map(String::as_str), Some("1"));
    let aliases = d.spec.expect("spec").host_aliases.unwrap_or_default();
    assert_eq!(aliases[0].ip, "10.96.0.9");
    assert!(
        aliases[0]
            .hostnames
            .iter()
            .flatten()
            .any(|h| h == "kubernetes.default.svc.cluster.local")
    );

    // With service links off only the API server vars are added; the container's own win.
    let mut p = vpod();
    if let Some(s) = p.spec.as_mut() {
        s.enable_service_links = Some(false);
        s.containers[0].env = Some(vec![EnvVar {
            name: "KUBERNETES_SERVICE_HOST".into(),
            value: Some("mine".into()),
            value_from: None,
        }]);
    }
    let d = desired(&ctx(), &p, inputs, None).expect("desired");
    let env = env_of(&d);
    assert!(!env.contains_key("REDIS_MASTER_SERVICE_HOST"));
    assert_eq!(
        env.get("KUBERNETES_SERVICE_HOST").map(String::as_str),
        Some("mine")
    );
}

#[test]
fn dns_points_at_tenant_dns_unless_disabled() {
    let inputs = PodInputs {
        dns_ip: Some("10.96.0.10"),
        ..PodInputs::default()
    };
    let d = desired(&ctx(), &vpod(), inputs, None).expect("desired");
    let s = d.spec.expect("spec");
    assert_eq!(s.dns_policy.as_deref(), Some("None"));
    let cfg = s.dns_config.expect("dns config");
    assert_eq!(cfg.nameservers, Some(vec!["10.96.0.10".to_string()]));
    assert_eq!(
        cfg.searches.unwrap_or_default()[0],
        "default.svc.cluster.local".to_string()
    );
    let mut p = vpod();
    p.metadata.labels.get_or_insert_default().insert(
        tenancy::LABEL_DISABLE_DNS_POLICY_MUTATION.into(),
        "true".into(),
    );
    let d = desired(&ctx(), &p, inputs, None).expect("desired");
    assert_eq!(d.spec.expect("spec").dns_policy, None);
    // Default (host) DNS policy is left alone.
    let mut p = vpod();
    if let Some(s) = p.spec.as_mut() {
        s.dns_policy = Some("Default".into());
    }
    let d = desired(&ctx(), &p, inputs, None).expect("desired");
    assert_eq!(d.spec.expect("spec").dns_policy.as_deref(), Some("Default"));
}

#[test]
fn affinity_terms_are_scoped_to_the_tenant() {
    let term = |namespaces: Option<Vec<String>>, ns_sel: Option<LabelSelector>| PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([
                ("app".into(), "db".into()),
                ("tenancy.x-k8s.io/x".into(), "y".into()),
            ])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tenancy.x-k8s.io/z".into(),
                operator: "Exists".into(),
                values: None,
            }]),
        }),
        namespaces,
        namespace_selector: ns_sel,
        topology_key: "kubernetes.io/hostname".into(),
        ..PodAffinityTerm::default()
    };
    let mut p = vpod();
    if let Some(s) = p.spec.as_mut() {
        s.affinity = Some(Affinity {
            pod_affinity: Some(PodAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![term(
                    Some(vec!["other".into()]),
                    None,
                )]),
                ..PodAffinity::default()
            }),
            pod_anti_affinity: Some(PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 1,
                        pod_affinity_term: term(None, Some(LabelSelector::default())),
                    },
                ]),
                ..PodAntiAffinity::default()
            }),
            ..Affinity::default()
        });
    }
    let d = desired(&ctx(), &p, PodInputs::default(), None).expect("desired");
    let a = d.spec.expect("spec").affinity.expect("affinity");
    let req = &a
        .pod_affinity
        .expect("pa")
        .required_during_scheduling_ignored_during_execution
        .expect("req")[0];
    assert_eq!(
        req.namespaces,
        Some(vec!["tenants-abc123-vc1-other".to_string()])
    );
    let sel = req.label_selector.clone().expect("sel");
    assert_eq!(
        sel.match_labels,
        Some(BTreeMap::from([("app".into(), "db".into())]))
    );
    assert_eq!(sel.match_expressions, Some(vec![]));
    let anti = &a
        .pod_anti_affinity
        .expect("anti")
        .preferred_during_scheduling_ignored_during_execution
        .expect("pref")[0];
    let ns_sel = anti
        .pod_affinity_term
        .namespace_selector
        .clone()
        .expect("ns sel");
    assert_eq!(
        ns_sel
            .match_labels
            .unwrap_or_default()
            .get(tenancy::LABEL_VC_NAME)
            .map(String::as_str),
        Some("vc1")
    );
}

fn with_token_volume(mut p: Pod) -> Pod {
    if let Some(s) = p.spec.as_mut() {
        s.volumes = Some(vec![Volume {
            name: "kube-api-access-abcde".into(),
            projected: Some(ProjectedVolumeSource {
                default_mode: Some(0o644),
                sources: Some(vec![VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        expiration_seconds: Some(3607),
                        path: "token".into(),
                        audience: None,
                    }),
                    ..VolumeProjection::default()
                }]),
            }),
            ..Volume::default()
        }]);
    }
    p
}

#[test]
fn projected_token_volume_becomes_the_tenant_token_secret() {
    let p = with_token_volume(vpod());
    assert!(token_volume(&p).is_some());
    assert!(matches!(
        desired(&ctx(), &p, PodInputs::default(), None),
        Err(ConvertError::NotReady(_))
    ));
    let inputs = PodInputs {
        token_secret: Some("vc-sa-token-default"),
        ..PodInputs::default()
    };
    let d = desired(&ctx(), &p, inputs, None).expect("desired");
    let v = &d.spec.expect("spec").volumes.expect("volumes")[0];
    assert_eq!(v.name, "kube-api-access-abcde");
    assert!(v.projected.is_none());
    let s = v.secret.as_ref().expect("secret volume");
    assert_eq!(s.secret_name.as_deref(), Some("vc-sa-token-default"));
    assert_eq!(s.default_mode, Some(0o644));
}

#[test]
fn custom_projected_tokens_are_refused() {
    let mut p = with_token_volume(vpod());
    if let Some(v) = p.spec.as_mut().and_then(|s| s.volumes.as_mut()) {
        v[0].name = "vault-token".into();
    }
    assert!(matches!(
        validate(&ctx(), &p),
        Err(ConvertError::NotSupported(_))
    ));
}

#[test]
fn legacy_token_secret_volumes_are_mapped() {
    let mut p = vpod();
    if let Some(s) = p.spec.as_mut() {
        s.volumes = Some(vec![Volume {
            name: "tok".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some("default-token-x".into()),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        }]);
    }
    let map = BTreeMap::from([(
        "default-token-x".to_string(),
        "default-token-x-1a2b3".to_string(),
    )]);
    let inputs = PodInputs {
        legacy_token_secrets: &map,
        ..PodInputs::default()
    };
    let d = desired(&ctx(), &p, inputs, None).expect("desired");
    let v = &d.spec.expect("spec").volumes.expect("volumes")[0];
    assert_eq!(
        v.secret.as_ref().and_then(|s| s.secret_name.as_deref()),
        Some("default-token-x-1a2b3")
    );
}

#[test]
fn diff_covers_only_mutable_fields() {
    let d = desired(&ctx(), &vpod(), PodInputs::default(), None).expect("desired");
    let mut existing = d.clone();
    existing.metadata.uid = Some("p-uid".into());
    if let Some(s) = existing.spec.as_mut() {
        s.node_name = Some("node-1".into());
    }
    prune_super(&mut existing);
    assert!(diff(&d, &existing).is_empty());
    let mut v2 = vpod();
    if let Some(s) = v2.spec.as_mut() {
        s.containers[0].image = Some("nginx:2".into());
        s.active_deadline_seconds = Some(30);
    }
    let d2 = desired(&ctx(), &v2, PodInputs::default(), None).expect("desired");
    let u = diff(&d2, &existing);
    assert_eq!(update_for(&ctx(), &v2, &existing), Ok(u.clone()));
    assert_eq!(u.images, vec![(0, "c".into(), "nginx:2".into())]);
    assert_eq!(u.active_deadline_seconds, Some(Some(30)));
    assert_eq!(u.labels, None);
    let patch = u.to_json_patch("p-uid");
    let ops = patch.as_array().expect("ops");
    assert_eq!(ops[0]["op"], "test");
    assert_eq!(ops[0]["value"], "p-uid");
    assert!(
        ops.iter()
            .any(|o| o["path"] == "/spec/containers/0/image" && o["value"] == "nginx:2")
    );
}

/// The super pod as the syncer caches it (pruned) must compare equal to what it was created
/// from, or every reconcile of a running pod writes again.
#[test]
fn a_pruned_copy_of_an_unchanged_pod_needs_no_write() {
    let mut v = vpod();
    if let Some(s) = v.spec.as_mut() {
        // What the tenant API server's DefaultTolerationSeconds admission adds.
        s.tolerations = Some(
            [
                "node.kubernetes.io/not-ready",
                "node.kubernetes.io/unreachable",
            ]
            .map(|key| Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                toleration_seconds: Some(300),
                value: None,
            })
            .to_vec(),
        );
        s.ephemeral_containers = Some(vec![EphemeralContainer {
            name: "debugger".into(),
            image: Some("busybox".into()),
            ..EphemeralContainer::default()
        }]);
    }
    let mut existing = desired(&ctx(), &v, PodInputs::default(), None).expect("desired");
    existing.metadata.uid = Some("p-uid".into());
    if let Some(s) = existing.spec.as_mut() {
        s.ephemeral_containers = v.spec.as_ref().and_then(|s| s.ephemeral_containers.clone());
    }
    prune_super(&mut existing);
    assert_eq!(update_for(&ctx(), &v, &existing), Ok(PodUpdate::default()));
    assert_eq!(ephemeral_update(&ctx(), &v, &existing), Ok(None));
}

#[test]
fn debug_containers_follow_after_the_same_check() {
    let d = desired(&ctx(), &vpod(), PodInputs::default(), None).expect("desired");
    let debug = |caps: Option<Vec<String>>| EphemeralContainer {
        name: "debugger".into(),
        image: Some("busybox".into()),
        security_context: caps.map(|add| SecurityContext {
            capabilities: Some(Capabilities {
                add: Some(add),
                drop: None,
            }),
            ..SecurityContext::default()
        }),
        ..EphemeralContainer::default()
    };
    let mut v = vpod();
    assert_eq!(ephemeral_update(&ctx(), &v, &d), Ok(None));
    if let Some(s) = v.spec.as_mut() {
        s.ephemeral_containers = Some(vec![debug(None)]);
    }
    let added = ephemeral_update(&ctx(), &v, &d)
        .expect("allowed")
        .expect("added");
    assert_eq!(added[0].name, "debugger");
    if let Some(s) = v.spec.as_mut() {
        s.ephemeral_containers = Some(vec![debug(Some(vec!["SYS_ADMIN".into()]))]);
    }
    assert!(matches!(
        ephemeral_update(&ctx(), &v, &d),
        Err(ConvertError::PolicyViolation {
            rule: "capabilities_baseline",
            ..
        })
    ));
}

#[test]
fn status_up_keeps_tenant_owned_gates() {
    let cond = |t: &str, s: &str| PodCondition {
        type_: t.into(),
        status: s.into(),
        ..PodCondition::default()
    };
    let mut v = vpod();
    if let Some(s) = v.spec.as_mut() {
        s.readiness_gates = Some(vec![PodReadinessGate {
            condition_type: "lb.io/ready".into(),
        }]);
    }
    v.status = Some(PodStatus {
        conditions: Some(vec![cond("lb.io/ready", "True")]),
        ..PodStatus::default()
    });
    let p = Pod {
        status: Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some("10.244.0.5".into()),
            conditions: Some(vec![cond("Ready", "True"), cond("lb.io/ready", "False")]),
            ..PodStatus::default()
        }),
        ..Pod::default()
    };
    let up = status_up(&v, &p).expect("changed");
    assert_eq!(up.pod_ip.as_deref(), Some("10.244.0.5"));
    let conds = up.conditions.clone().unwrap_or_default();
    assert!(conds.contains(&cond("Ready", "True")));
    assert!(conds.contains(&cond("lb.io/ready", "True")));
    assert!(!conds.contains(&cond("lb.io/ready", "False")));
    v.status = Some(up);
    assert_eq!(status_up(&v, &p), None);
    let down = readiness_down(&v, &p).expect("gate differs");
    assert!(down.contains(&cond("lb.io/ready", "True")));
}

#[test]
fn binding_targets_the_node_with_uid_precondition() {
    let b = binding(&vpod(), "node-1");
    assert_eq!(b.metadata.uid.as_deref(), Some("pod-uid"));
    assert_eq!(b.target.name.as_deref(), Some("node-1"));
    assert_eq!(b.target.kind.as_deref(), Some("Node"));
}
