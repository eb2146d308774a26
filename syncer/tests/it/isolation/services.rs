//! Services and hand-written endpoints: they claim only what the VirtualCluster allows.

use std::collections::BTreeMap;

use crds::{ServicePolicy, VirtualClusterSpec};
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointSubset, Endpoints, Pod, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client};

use super::{WAIT, refusal, spec};
use crate::harness::*;

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

    // Addresses that become foreign later: the refusal also removes the copy made before.
    stale_copies_go(&a, &sc, &victim_ip).await;

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

/// Hand-written endpoints and slices whose super copies exist, changed to another tenant's
/// pod: refused, and their super copies deleted.
async fn stale_copies_go(t: &TenantEnv, sc: &Client, foreign_ip: &str) {
    let eps: Api<Endpoints> = Api::namespaced(t.client.clone(), "app");
    let mut manual = eps.get("manual").await.expect("own endpoints");
    manual.subsets = endpoints("manual", &[foreign_ip]).subsets;
    eps.replace("manual", &PostParams::default(), &manual)
        .await
        .expect("endpoints now foreign");
    let slices: Api<EndpointSlice> = Api::namespaced(t.client.clone(), "app");
    let mut slice_1 = slices.get("manual-1").await.expect("own slice");
    slice_1.endpoints = slice("manual-1", "manual", &[foreign_ip]).endpoints;
    slices
        .replace("manual-1", &PostParams::default(), &slice_1)
        .await
        .expect("slice now foreign");
    refusal(&t.client, "app", "manual", "rule endpoints").await;
    refusal(&t.client, "app", "manual-1", "rule endpoints").await;
    let seps: Api<Endpoints> = Api::namespaced(sc.clone(), &t.super_ns("app"));
    let sslices: Api<EndpointSlice> = Api::namespaced(sc.clone(), &t.super_ns("app"));
    eventually("stale super endpoints deleted", WAIT, || async {
        seps.get_opt("manual").await.ok()?.is_none().then_some(())
    })
    .await;
    eventually("stale super slice deleted", WAIT, || async {
        sslices
            .get_opt("manual-1")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}
