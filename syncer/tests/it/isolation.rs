//! Hard isolation, replayed as a hostile tenant admin would try it: every case is created in
//! the tenant with kube-rs, and for each the test asserts that nothing reached the super
//! cluster and the tenant object got a Warning event naming the rule (and, for pods,
//! `PodScheduled=False`), or that it did reach the super cluster when the VC grants it.

use std::collections::BTreeMap;
use std::time::Duration;

use crds::tenancy;
use crds::{
    Placement, PlacementToleration, PodPolicy, PodSecurityLevel, ServicePolicy, VirtualClusterSpec,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, EndpointAddress, EndpointSubset, Endpoints, EphemeralContainer, Event,
    Namespace, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    SeccompProfile, Secret, SecurityContext, Service, ServicePort, ServiceSpec, Toleration,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

use super::harness::*;

const WAIT: Duration = Duration::from_secs(60);

fn spec() -> VirtualClusterSpec {
    VirtualClusterSpec {
        cluster_version_name: "cv".into(),
        ..VirtualClusterSpec::default()
    }
}

/// The Warning event about tenant object `name` whose message contains `needle`.
async fn refusal(client: &Client, ns: &str, name: &str, needle: &str) -> Event {
    let what = format!("refusal of {ns}/{name} mentioning {needle:?}");
    eventually(&what, WAIT, || async {
        let evs: Api<Event> = Api::namespaced(client.clone(), ns);
        let list = evs.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| {
            e.involved_object.name.as_deref() == Some(name)
                && e.type_.as_deref() == Some("Warning")
                && matches!(
                    e.reason.as_deref(),
                    Some("PolicyViolation") | Some("NotSupported")
                )
                && e.message.as_deref().is_some_and(|m| m.contains(needle))
        })
    })
    .await
}

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
            with_spec("ephemeral", |s| {
                s.ephemeral_containers = Some(vec![EphemeralContainer {
                    name: "debug".into(),
                    image: Some("busybox".into()),
                    security_context: caps(&["SYS_ADMIN"]),
                    ..EphemeralContainer::default()
                }])
            }),
            "capabilities_baseline",
        ),
        (
            with_spec("procmount", |s| {
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

fn service(name: &str, f: impl FnOnce(&mut ServiceSpec)) -> Service {
    let mut spec = ServiceSpec {
        ports: Some(vec![ServicePort {
            port: 80,
            ..ServicePort::default()
        }]),
        ..ServiceSpec::default()
    };
    f(&mut spec);
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

fn endpoints(name: &str, ips: &[&str]) -> Endpoints {
    Endpoints {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        subsets: Some(vec![EndpointSubset {
            addresses: Some(
                ips.iter()
                    .map(|ip| EndpointAddress {
                        ip: ip.to_string(),
                        ..EndpointAddress::default()
                    })
                    .collect(),
            ),
            ports: Some(vec![k8s_openapi::api::core::v1::EndpointPort {
                port: 80,
                ..Default::default()
            }]),
            not_ready_addresses: None,
        }]),
    }
}

fn slice(name: &str, service: &str, ips: &[&str]) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(
                "kubernetes.io/service-name".to_string(),
                service.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints: vec![Endpoint {
            addresses: ips.iter().map(|s| s.to_string()).collect(),
            ..Endpoint::default()
        }],
        ports: None,
    }
}

async fn pod_ip(client: &Client, ns: &str, name: &str) -> String {
    let p = eventually("pod runs", WAIT, || running_bound(client, ns, name)).await;
    p.status.and_then(|s| s.pod_ip).expect("pod ip")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_and_endpoints_claim_only_what_the_vc_allows() {
    common::process::install_crypto_provider();
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a"]).await;
    let a = add_tenant(&sc, "svc-a", spec()).await;
    let b = add_tenant(
        &sc,
        "svc-b",
        VirtualClusterSpec {
            service_policy: Some(ServicePolicy {
                allow_node_port: true,
                allowed_external_names: vec!["*.example.com".into()],
                ..ServicePolicy::default()
            }),
            ..spec()
        },
    )
    .await;
    let syncer = start_syncer(&sc, syncer_config()).await;
    tenant_ns(&a.client, "app").await;
    tenant_ns(&b.client, "app").await;
    let a_pods: Api<Pod> = Api::namespaced(a.client.clone(), "app");
    let b_pods: Api<Pod> = Api::namespaced(b.client.clone(), "app");
    a_pods
        .create(&PostParams::default(), &pod("web", "nginx"))
        .await
        .expect("a pod");
    b_pods
        .create(&PostParams::default(), &pod("victim", "nginx"))
        .await
        .expect("b pod");
    let own_ip = pod_ip(&a.client, "app", "web").await;
    let victim_ip = pod_ip(&b.client, "app", "victim").await;
    let super_api_ip = Api::<Service>::namespaced(sc.clone(), "default")
        .get("kubernetes")
        .await
        .expect("super kubernetes service")
        .spec
        .and_then(|s| s.cluster_ip)
        .expect("super API IP");

    let svcs: Api<Service> = Api::namespaced(a.client.clone(), "app");
    let hostile = [
        service("ext-ips", |s| {
            s.external_ips = Some(vec![super_api_ip.clone(), "192.0.2.10".into()])
        }),
        service("lb", |s| {
            s.type_ = Some("LoadBalancer".into());
            s.load_balancer_ip = Some("192.0.2.20".into());
        }),
        service("to-super", |s| {
            s.type_ = Some("ExternalName".into());
            s.external_name = Some("kubernetes.default.svc.cluster.local".into());
            s.ports = None;
        }),
        service("nodeport", |s| s.type_ = Some("NodePort".into())),
    ];
    for s in &hostile {
        svcs.create(&PostParams::default(), s)
            .await
            .expect("tenant accepts the service");
    }
    let ssvcs: Api<Service> = Api::namespaced(sc.clone(), &a.super_ns("app"));
    for (name, rule) in [
        ("ext-ips", "externalIPs"),
        ("lb", "loadBalancer"),
        ("to-super", "externalName"),
        ("nodeport", "nodePort"),
    ] {
        let ev = refusal(&a.client, "app", name, &format!("rule {rule}")).await;
        assert!(
            ev.message
                .unwrap_or_default()
                .contains("spec.servicePolicy")
        );
        assert!(ssvcs.get_opt(name).await.expect("get").is_none());
    }

    // Hand-written endpoints: another tenant's pod and the super API server are refused; the
    // tenant's own pod is synced. Loopback and link-local never get past the tenant API server.
    svcs.create(&PostParams::default(), &service("manual", |_| {}))
        .await
        .expect("selector-less service");
    svcs.create(&PostParams::default(), &service("stolen", |_| {}))
        .await
        .expect("selector-less service");
    let eps: Api<Endpoints> = Api::namespaced(a.client.clone(), "app");
    for bad in ["127.0.0.1", "169.254.169.254"] {
        let err = eps
            .create(&PostParams::default(), &endpoints("loop", &[bad]))
            .await
            .expect_err("special addresses are invalid");
        assert!(matches!(err, kube::Error::Api(s) if s.code == 422), "{bad}");
    }
    eps.create(&PostParams::default(), &endpoints("manual", &[&own_ip]))
        .await
        .expect("own endpoints");
    eps.create(
        &PostParams::default(),
        &endpoints("stolen", &[&victim_ip, &super_api_ip]),
    )
    .await
    .expect("foreign endpoints");
    let seps: Api<Endpoints> = Api::namespaced(sc.clone(), &a.super_ns("app"));
    eventually("own endpoints reach the super cluster", WAIT, || async {
        seps.get_opt("manual").await.ok()?
    })
    .await;
    refusal(&a.client, "app", "stolen", "rule endpoints").await;
    assert!(seps.get_opt("stolen").await.expect("get").is_none());

    // EndpointSlices written by hand are synced too, under the same rule.
    let slices: Api<EndpointSlice> = Api::namespaced(a.client.clone(), "app");
    slices
        .create(
            &PostParams::default(),
            &slice("manual-1", "manual", &[&own_ip]),
        )
        .await
        .expect("own slice");
    slices
        .create(
            &PostParams::default(),
            &slice("stolen-1", "stolen", &[&victim_ip]),
        )
        .await
        .expect("foreign slice");
    let sslices: Api<EndpointSlice> = Api::namespaced(sc.clone(), &a.super_ns("app"));
    eventually("own slice reaches the super cluster", WAIT, || async {
        sslices.get_opt("manual-1").await.ok()?
    })
    .await;
    refusal(&a.client, "app", "stolen-1", "rule endpoints").await;
    assert!(sslices.get_opt("stolen-1").await.expect("get").is_none());

    // Tenant b may use node ports: the super cluster allocates them and the tenant sees the
    // truth; external names it allows go through.
    let bsvcs: Api<Service> = Api::namespaced(b.client.clone(), "app");
    bsvcs
        .create(
            &PostParams::default(),
            &service("np", |s| {
                s.type_ = Some("NodePort".into());
                if let Some(p) = s.ports.as_mut() {
                    p[0].node_port = Some(30080);
                }
            }),
        )
        .await
        .expect("node port service");
    bsvcs
        .create(
            &PostParams::default(),
            &service("db", |s| {
                s.type_ = Some("ExternalName".into());
                s.external_name = Some("db.example.com".into());
                s.ports = None;
            }),
        )
        .await
        .expect("external name");
    let bsuper: Api<Service> = Api::namespaced(sc.clone(), &b.super_ns("app"));
    let allocated = eventually("node port allocated in super", WAIT, || async {
        let s = bsuper.get_opt("np").await.ok()??;
        s.spec?.ports?.first()?.node_port
    })
    .await;
    eventually("tenant sees the super node port", WAIT, || async {
        let s = bsvcs.get_opt("np").await.ok()??;
        (s.spec?.ports?.first()?.node_port == Some(allocated)).then_some(())
    })
    .await;
    eventually("allowed external name synced", WAIT, || async {
        bsuper.get_opt("db").await.ok()?
    })
    .await;
    syncer.shutdown().await.expect("shutdown");
    kubelet.cancel();
}

/// Two tenant namespace names that shorten to the same super namespace under `key`.
fn colliding_namespaces(key: &str) -> (String, String) {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for i in 0u32.. {
        let name = format!("{}-{i:08}", "n".repeat(63 - 9));
        let sup = tenancy::super_namespace(key, &name).expect("super namespace");
        if let Some(first) = seen.insert(sup, name.clone()) {
            return (first, name);
        }
    }
    unreachable!("the hash space is finite")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn syncer_objects_and_other_namespaces_cannot_be_shadowed() {
    common::process::install_crypto_provider();
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a"]).await;
    let t = add_tenant(&sc, "shadow", spec()).await;
    let syncer = start_syncer(&sc, syncer_config()).await;
    tenant_ns(&t.client, "app").await;

    // A pod with the standard token volume makes the syncer issue its token secret.
    let pods: Api<Pod> = Api::namespaced(t.client.clone(), "app");
    pods.create(&PostParams::default(), &pod("web", "nginx"))
        .await
        .expect("pod");
    eventually("pod runs", WAIT, || running_bound(&t.client, "app", "web")).await;
    let ssecrets: Api<Secret> = Api::namespaced(sc.clone(), &t.super_ns("app"));
    let token_before = ssecrets.get_opt("vc-sa-token-default").await.expect("get");

    let secrets: Api<Secret> = Api::namespaced(t.client.clone(), "app");
    let fake = Secret {
        metadata: ObjectMeta {
            name: Some("vc-sa-token-default".into()),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([("token".into(), "forged".into())])),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &fake)
        .await
        .expect("tenant accepts the secret");
    refusal(&t.client, "app", "vc-sa-token-default", "reserved").await;
    let token_after = ssecrets.get_opt("vc-sa-token-default").await.expect("get");
    assert_eq!(
        token_before.map(|s| s.metadata.uid),
        token_after.clone().map(|s| s.metadata.uid),
        "the syncer's token secret is untouched"
    );
    if let Some(s) = token_after {
        assert!(
            !s.data
                .unwrap_or_default()
                .values()
                .any(|v| v.0 == b"forged"),
            "the tenant's data never replaces the token"
        );
    }

    // Two long namespaces that shorten to the same super name: the second is refused at once,
    // and nothing of it lands in the first one's super namespace.
    let (first, second) = colliding_namespaces(&t.key);
    tenant_ns(&t.client, &first).await;
    let super_name = t.super_ns(&first);
    let sns: Api<Namespace> = Api::all(sc.clone());
    let synced = eventually("first long namespace synced", WAIT, || async {
        sns.get_opt(&super_name).await.ok()?
    })
    .await;
    tenant_ns(&t.client, &second).await;
    let spod_api: Api<Pod> = Api::namespaced(t.client.clone(), &second);
    spod_api
        .create(&PostParams::default(), &pod("intruder", "busybox"))
        .await
        .expect("pod in the second namespace");
    let ev = eventually("namespace collision reported", WAIT, || async {
        let evs: Api<Event> = Api::namespaced(t.client.clone(), &second);
        let list = evs.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.involved_object.kind.as_deref() == Some("Namespace"))
    })
    .await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    refusal(&t.client, &second, "intruder", "another namespace").await;
    let now = sns.get(&super_name).await.expect("super ns");
    assert_eq!(now.metadata.uid, synced.metadata.uid, "not replaced");
    assert_eq!(
        now.metadata
            .annotations
            .unwrap_or_default()
            .get(tenancy::ANNOTATION_NAMESPACE),
        Some(&first)
    );
    let spods: Api<Pod> = Api::namespaced(sc.clone(), &super_name);
    assert!(spods.get_opt("intruder").await.expect("get").is_none());
    syncer.shutdown().await.expect("shutdown");
    kubelet.cancel();
}
