//! Hostile pods: refused under the VirtualCluster's profile unless it grants them.

use std::collections::BTreeMap;

use crds::{Placement, PlacementToleration, PodPolicy, PodSecurityLevel, VirtualClusterSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, EphemeralContainer, Namespace, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, Pod, SeccompProfile, SecurityContext, Toleration,
};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};

use super::{WAIT, refusal, spec};
use crate::harness::*;

/// Asserts a refused tenant pod: event with the rule, `PodScheduled=False`, no super pod.
async fn pod_refused(t: &TenantEnv, sc: &Client, ns: &str, name: &str, rule: &str) {
    let ev = refusal(&t.client, ns, name, &format!("rule {rule}")).await;
    let pods: Api<Pod> = Api::namespaced(t.client.clone(), ns);
    let cond = eventually("PodScheduled=False on the refused pod", WAIT, || async {
        let p = pods.get_opt(name).await.ok()??;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    })
    .await;
    assert_eq!(cond.reason.as_deref(), ev.reason.as_deref());
    assert!(
        cond.message.unwrap_or_default().contains(rule),
        "condition names the rule {rule}"
    );
    let spods: Api<Pod> = Api::namespaced(sc.clone(), &t.super_ns(ns));
    assert!(
        spods.get_opt(name).await.expect("get").is_none(),
        "refused pod {name} must not reach the super cluster"
    );
}

fn with_spec(name: &str, f: impl FnOnce(&mut k8s_openapi::api::core::v1::PodSpec)) -> Pod {
    let mut p = pod(name, "busybox");
    if let Some(s) = p.spec.as_mut() {
        f(s);
    }
    p
}

fn security(f: impl FnOnce(&mut SecurityContext)) -> Option<SecurityContext> {
    let mut sc = SecurityContext::default();
    f(&mut sc);
    Some(sc)
}

fn pin_to(node: &str) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_fields: Some(vec![NodeSelectorRequirement {
                        key: "metadata.name".into(),
                        operator: "In".into(),
                        values: Some(vec![node.into()]),
                    }]),
                    match_expressions: None,
                }],
            }),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    }
}

fn toleration(key: Option<&str>, op: &str, value: Option<&str>) -> Toleration {
    Toleration {
        key: key.map(Into::into),
        operator: Some(op.into()),
        value: value.map(Into::into),
        effect: None,
        toleration_seconds: None,
    }
}

/// `kubectl debug` with a forbidden capability: debug containers only come through the
/// `ephemeralcontainers` subresource of a running pod, and pass the same check as at creation.
async fn debug_container_refused(t: &TenantEnv, sc: &Client) {
    let pods: Api<Pod> = Api::namespaced(t.client.clone(), "app");
    pods.create(&PostParams::default(), &pod("debugged", "busybox"))
        .await
        .expect("pod to debug");
    eventually("pod to debug runs", WAIT, || {
        running_bound(&t.client, "app", "debugged")
    })
    .await;
    let debug = EphemeralContainer {
        name: "debug".into(),
        image: Some("busybox".into()),
        security_context: security(|s| {
            s.capabilities = Some(Capabilities {
                add: Some(vec!["SYS_ADMIN".into()]),
                drop: None,
            })
        }),
        ..EphemeralContainer::default()
    };
    let body = serde_json::json!({"spec": {"ephemeralContainers": [debug]}});
    pods.patch_subresource(
        "ephemeralcontainers",
        "debugged",
        &PatchParams::default(),
        &Patch::Strategic(&body),
    )
    .await
    .expect("tenant accepts the debug container");
    refusal(&t.client, "app", "debugged", "rule capabilities_baseline").await;
    let spods: Api<Pod> = Api::namespaced(sc.clone(), &t.super_ns("app"));
    let p = spods.get("debugged").await.expect("super pod");
    assert!(
        p.spec.and_then(|s| s.ephemeral_containers).is_none(),
        "a refused debug container never reaches the super pod"
    );
}

/// The hostile pods of the issue and the rule each must be refused under (default profile:
/// baseline, no placement grants).
fn hostile_pods() -> Vec<(Pod, &'static str)> {
    let caps = |names: &[&str]| {
        security(|s| {
            s.capabilities = Some(Capabilities {
                add: Some(names.iter().map(|n| n.to_string()).collect()),
                drop: None,
            })
        })
    };
    let mut apparmor = pod("apparmor", "busybox");
    apparmor.metadata.annotations = Some(BTreeMap::from([(
        "container.apparmor.security.beta.kubernetes.io/main".to_string(),
        "unconfined".to_string(),
    )]));
    vec![
        (
            with_spec("caps", |s| {
                s.containers[0].security_context = caps(&["SYS_ADMIN", "NET_ADMIN", "ALL"])
            }),
            "capabilities_baseline",
        ),
        (
            with_spec("procmount", |s| {
                // The tenant API server accepts an unmasked /proc only in a user namespace.
                s.host_users = Some(false);
                s.containers[0].security_context =
                    security(|c| c.proc_mount = Some("Unmasked".into()))
            }),
            "procMount",
        ),
        (
            with_spec("seccomp", |s| {
                s.containers[0].security_context = security(|c| {
                    c.seccomp_profile = Some(SeccompProfile {
                        type_: "Unconfined".into(),
                        localhost_profile: None,
                    })
                })
            }),
            "seccompProfile_baseline",
        ),
        (apparmor, "appArmorProfile"),
        (
            with_spec("privileged", |s| {
                s.containers[0].security_context = security(|c| c.privileged = Some(true))
            }),
            "privileged",
        ),
        (
            with_spec("hostnet", |s| s.host_network = Some(true)),
            "hostNamespaces",
        ),
        (
            with_spec("tolerate-all", |s| {
                s.tolerations = Some(vec![toleration(None, "Exists", None)]);
                s.node_selector = Some(BTreeMap::from([(
                    "kubernetes.io/hostname".into(),
                    "node-b".into(),
                )]));
            }),
            "tolerations",
        ),
        (
            with_spec("pinned", |s| s.affinity = Some(pin_to("node-b"))),
            "nodePinning",
        ),
        (
            with_spec("critical", |s| {
                s.priority_class_name = Some("system-node-critical".into())
            }),
            "priorityClass",
        ),
        (
            with_spec("other-scheduler", |s| {
                s.scheduler_name = Some("other".into())
            }),
            "schedulerName",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_pods_are_refused_and_grants_widen_the_profile() {
    common::process::install_crypto_provider();
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a", "node-b"]).await;
    let hostile = add_tenant(&sc, "hostile", spec()).await;
    let dedicated = PlacementToleration {
        key: Some("dedicated".into()),
        operator: Some("Equal".into()),
        value: Some("granted".into()),
        effect: Some("NoSchedule".into()),
        toleration_seconds: None,
    };
    let granted = add_tenant(
        &sc,
        "granted",
        VirtualClusterSpec {
            pod_policy: Some(PodPolicy {
                allowed_capabilities: vec!["NET_ADMIN".into()],
                priority_classes: Some(vec!["system-node-critical".into()]),
                ..PodPolicy::default()
            }),
            placement: Some(Placement {
                tolerations: vec![dedicated],
                allow_node_pinning: true,
                scheduler_names: vec!["other".into()],
                ..Placement::default()
            }),
            ..spec()
        },
    )
    .await;
    let strict = add_tenant(
        &sc,
        "strict",
        VirtualClusterSpec {
            pod_policy: Some(PodPolicy {
                level: Some(PodSecurityLevel::Restricted),
                ..PodPolicy::default()
            }),
            ..spec()
        },
    )
    .await;
    let syncer = start_syncer(&sc, syncer_config()).await;
    for t in [&hostile, &granted, &strict] {
        tenant_ns(&t.client, "app").await;
    }

    let pods: Api<Pod> = Api::namespaced(hostile.client.clone(), "app");
    let cases = hostile_pods();
    for (p, _) in &cases {
        pods.create(&PostParams::default(), p)
            .await
            .expect("tenant accepts the pod");
    }
    pods.create(&PostParams::default(), &pod("fine", "busybox"))
        .await
        .expect("fine pod");
    eventually("acceptable pod runs", WAIT, || {
        running_bound(&hostile.client, "app", "fine")
    })
    .await;
    for (p, rule) in &cases {
        let name = p.metadata.name.as_deref().unwrap_or_default();
        pod_refused(&hostile, &sc, "app", name, rule).await;
    }
    debug_container_refused(&hostile, &sc).await;
    let refusals = syncer
        .metrics()
        .policy_refusals
        .with_label_values(&[&hostile.key, "capabilities_baseline"])
        .get();
    assert!(
        refusals >= 2,
        "refusals are counted per rule, got {refusals}"
    );

    // The super namespace carries the level for a real super cluster's admission.
    let sns: Api<Namespace> = Api::all(sc.clone());
    let ns = sns.get(&hostile.super_ns("app")).await.expect("super ns");
    assert_eq!(
        ns.metadata
            .labels
            .unwrap_or_default()
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("baseline")
    );

    // What the VC grants goes through: an allowed capability, a granted toleration, node
    // pinning, an allowed priority class and scheduler.
    let gpods: Api<Pod> = Api::namespaced(granted.client.clone(), "app");
    let widened = with_spec("widened", |s| {
        s.containers[0].security_context = security(|c| {
            c.capabilities = Some(Capabilities {
                add: Some(vec!["NET_ADMIN".into()]),
                drop: None,
            })
        });
        s.tolerations = Some(vec![Toleration {
            effect: Some("NoSchedule".into()),
            ..toleration(Some("dedicated"), "Equal", Some("granted"))
        }]);
        s.affinity = Some(pin_to("node-a"));
        s.priority_class_name = Some("system-node-critical".into());
        s.scheduler_name = Some("other".into());
    });
    gpods
        .create(&PostParams::default(), &widened)
        .await
        .expect("widened pod");
    // A toleration the VC does not grant is still refused for the granted tenant.
    let wider = with_spec("wider", |s| {
        s.tolerations = Some(vec![toleration(Some("dedicated"), "Exists", None)])
    });
    gpods
        .create(&PostParams::default(), &wider)
        .await
        .expect("wider pod");
    let spods: Api<Pod> = Api::namespaced(sc.clone(), &granted.super_ns("app"));
    eventually("granted pod reaches the super cluster", WAIT, || async {
        spods.get_opt("widened").await.ok()?
    })
    .await;
    pod_refused(&granted, &sc, "app", "wider", "tolerations").await;

    // Adding a toleration to a running pod: a granted one reaches the super copy, one that is
    // not granted is reported.
    let running = with_spec("running", |s| s.tolerations = Some(vec![]));
    gpods
        .create(&PostParams::default(), &running)
        .await
        .expect("running pod");
    eventually("running pod runs", WAIT, || {
        running_bound(&granted.client, "app", "running")
    })
    .await;
    let add = |t: Toleration| serde_json::json!([{"op": "add", "path": "/spec/tolerations/-", "value": t}]);
    let granted_tol = Toleration {
        effect: Some("NoSchedule".into()),
        ..toleration(Some("dedicated"), "Equal", Some("granted"))
    };
    gpods
        .patch(
            "running",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(add(granted_tol.clone())).expect("json patch"),
            ),
        )
        .await
        .expect("add granted toleration");
    eventually("added toleration reaches the super pod", WAIT, || async {
        let p = spods.get_opt("running").await.ok()??;
        p.spec?.tolerations?.contains(&granted_tol).then_some(())
    })
    .await;
    gpods
        .patch(
            "running",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(add(toleration(None, "Exists", None))).expect("patch"),
            ),
        )
        .await
        .expect("add wide toleration");
    refusal(&granted.client, "app", "running", "rule tolerations").await;
    let p = spods.get("running").await.expect("super pod");
    assert!(
        !p.spec
            .and_then(|s| s.tolerations)
            .unwrap_or_default()
            .iter()
            .any(|t| t.key.is_none() && t.operator.as_deref() == Some("Exists")),
        "an ungranted toleration never reaches the super pod"
    );

    // Restricted: what baseline lets through is refused.
    let rpods: Api<Pod> = Api::namespaced(strict.client.clone(), "app");
    let root = with_spec("root", |s| {
        s.containers[0].security_context = security(|c| {
            c.run_as_user = Some(0);
            c.allow_privilege_escalation = Some(true);
        })
    });
    rpods
        .create(&PostParams::default(), &root)
        .await
        .expect("root pod");
    pod_refused(&strict, &sc, "app", "root", "allowPrivilegeEscalation").await;
    let ev = refusal(&strict.client, "app", "root", "runAsUser").await;
    assert!(
        ev.message
            .unwrap_or_default()
            .contains("violates PodSecurity \"restricted"),
        "upstream's wording"
    );
    let hardened = with_spec("hardened", |s| {
        s.containers[0].security_context = security(|c| {
            c.run_as_non_root = Some(true);
            c.allow_privilege_escalation = Some(false);
            c.capabilities = Some(Capabilities {
                add: None,
                drop: Some(vec!["ALL".into()]),
            });
            c.seccomp_profile = Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            });
        })
    });
    rpods
        .create(&PostParams::default(), &hardened)
        .await
        .expect("hardened pod");
    eventually("a restricted-conformant pod runs", WAIT, || {
        running_bound(&strict.client, "app", "hardened")
    })
    .await;

    syncer.shutdown().await.expect("shutdown");
    kubelet.cancel();
}
