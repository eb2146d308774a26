//! A `local` VirtualCluster on the embedded super cluster: Running, usable, verifiable PKI.

use std::net::IpAddr;

use crds::Provisioner;
use crds::condition::{CONDITION_CONTROL_PLANE_READY, CONDITION_PKI_READY, find_condition};
use crds::tenancy::{ANNOTATION_VC_ROOT_NS, ANNOTATION_VC_UID, LABEL_VC_NAME};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, PostParams};
use vc_manager::pki::inspect::{parse_cert_pem, verify_signed_by};
use vc_manager::pki::kubeconfig;
use vc_manager::pki::secrets::read_tls;

use crate::harness::*;

const DAY: i64 = 86_400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_tenant_runs_and_its_kubeconfig_works() {
    let env = Env::start().await;
    // The local provisioner never reads the ClusterVersion: one that does not exist is fine.
    let mut s = spec(Provisioner::Local);
    s.cluster_version_name = "does-not-exist".into();
    env.create("demo", s).await;
    let vc = env.wait_running("demo").await;
    let status = vc.status.clone().unwrap();
    let key = status.cluster_namespace.clone().unwrap();
    assert_eq!(key, crds::tenancy::cluster_key(&vc).unwrap());
    assert_eq!(status.observed_generation, vc.metadata.generation);
    for c in [CONDITION_PKI_READY, CONDITION_CONTROL_PLANE_READY] {
        assert!(
            find_condition(&status.conditions, c).unwrap().is_true(),
            "{c}"
        );
    }
    assert!(
        vc.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"tenancy.x-k8s.io/vc-manager".to_string())
    );

    // The root namespace carries the contract's metadata.
    let ns = Api::<Namespace>::all(env.client.clone())
        .get(&key)
        .await
        .unwrap();
    let ann = ns.metadata.annotations.unwrap();
    assert_eq!(ann[ANNOTATION_VC_ROOT_NS], "true");
    assert_eq!(ann[ANNOTATION_VC_UID], vc.metadata.uid.clone().unwrap());
    assert_eq!(ns.metadata.labels.unwrap()[LABEL_VC_NAME], "demo");

    // The tenant's state (SQLite, certificates, ports) lives under the state directory.
    let state = env.state.path().join(&key);
    for f in ["ports.json", "data", "pki/ca.crt"] {
        assert!(state.join(f).exists(), "{f} under {}", state.display());
    }

    // kube-rs with the published kubeconfig.
    let text = env.admin_kubeconfig(&key).await;
    let tenant = client_from(&text).await;
    let cms: Api<ConfigMap> = Api::namespaced(tenant.clone(), "default");
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("hello".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(cms.get_opt("hello").await.unwrap().is_some());
    // It is the tenant's own API server: the super cluster has no such configmap.
    let super_cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), "default");
    assert!(super_cms.get_opt("hello").await.unwrap().is_none());

    // The real kubectl with the same kubeconfig.
    if let Some(out) = kubectl(&text, &["get", "configmap", "hello", "-o", "name"]) {
        assert!(
            out.status.success(),
            "kubectl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "configmap/hello"
        );
    }

    // Events tell the story.
    let events: Api<Event> = Api::namespaced(env.client.clone(), NS);
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("demo"))
        .filter_map(|e| e.reason)
        .collect();
    for want in [
        "RootNamespaceCreated",
        "PKIIssued",
        "ControlPlaneApplied",
        "Ready",
    ] {
        assert!(reasons.iter().any(|r| r == want), "{want} in {reasons:?}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_pki_verifies() {
    let env = Env::start().await;
    env.create("pki", spec(Provisioner::Local)).await;
    let vc = env.wait_running("pki").await;
    let key = vc.status.unwrap().cluster_namespace.unwrap();
    let secrets = env.secrets(&key).await;
    let now = jiff::Timestamp::now().as_second();
    let (ca_pem, _) = read_tls(&secrets["root-ca"]).unwrap();
    let ca = parse_cert_pem(&ca_pem).unwrap();
    assert!(ca.is_ca && ca.key_cert_sign);
    assert!((ca.not_after - now - 3650 * DAY).abs() < 120);

    let leaf = |name: &str| {
        let (cert, _) = read_tls(&secrets[name]).unwrap();
        verify_signed_by(&cert, &ca_pem).unwrap_or_else(|e| panic!("{name}: {e}"));
        let info = parse_cert_pem(&cert).unwrap();
        assert!(!info.is_ca, "{name}");
        assert!(
            (info.not_after - now - 365 * DAY).abs() < 120,
            "{name} lifetime"
        );
        info
    };
    let api = leaf("apiserver-ca");
    assert!(api.server_auth && api.client_auth);
    assert_eq!(api.common_name.as_deref(), Some(key.as_str()));
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    assert!(api.ips.contains(&lo));
    assert!(
        api.ips.contains(&"10.32.0.1".parse::<IpAddr>().unwrap()),
        "first service IP"
    );
    for dns in [
        "kubernetes",
        "kubernetes.default.svc.cluster.local",
        "localhost",
    ] {
        assert!(api.dns.contains(dns), "{dns}");
    }
    let kubelet = leaf("kubelet-client");
    assert_eq!(kubelet.common_name.as_deref(), Some(key.as_str()));
    assert!(kubelet.client_auth && !kubelet.server_auth);
    let etcd = leaf("etcd-ca");
    assert!(etcd.server_auth && etcd.client_auth);
    let fp = leaf("front-proxy-ca");
    assert_eq!(fp.common_name.as_deref(), Some("front-proxy-client"));

    let admin = kubeconfig::parse(&env.admin_kubeconfig(&key).await).unwrap();
    let server = admin.server.clone();
    assert!(server.starts_with("https://127.0.0.1:"), "{server}");
    assert_eq!(admin.ca_pem.as_deref(), Some(ca_pem.as_str()));
    let cert = admin.client_cert_pem.unwrap();
    verify_signed_by(&cert, &ca_pem).unwrap();
    let info = parse_cert_pem(&cert).unwrap();
    assert_eq!(info.common_name.as_deref(), Some("admin"));
    assert_eq!(info.organizations, vec!["system:masters".to_string()]);
    assert!(info.client_auth && !info.server_auth);

    // The embedded tenant server really serves with apiserver-ca: the TLS handshake of the
    // kubeconfig (CA = root-ca) succeeds, which the tests above already relied on.
    let sa = &secrets["serviceaccount-rsa"];
    let (public, private) = read_tls(sa).unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_manager_resumes_local_tenants_with_their_data() {
    let mut env = Env::start().await;
    env.create("keep", spec(Provisioner::Local)).await;
    let vc = env.wait_running("keep").await;
    let key = vc.status.unwrap().cluster_namespace.unwrap();
    let text = env.admin_kubeconfig(&key).await;
    let cms: Api<ConfigMap> = Api::namespaced(client_from(&text).await, "default");
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("survivor".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    cms.create(&PostParams::default(), &cm).await.unwrap();

    env.manager.take().unwrap().shutdown().await;
    assert!(
        cms.get_opt("survivor").await.is_err(),
        "the tenant stops with vc-manager"
    );

    let config = manager_config(env.state.path().to_path_buf());
    env.manager = Some(vc_manager::start(config, env.client.clone()).await.unwrap());
    // Same port, same PKI, same SQLite: the old kubeconfig works and the data is there.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(Some(_)) = cms.get_opt("survivor").await {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "tenant not resumed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        env.admin_kubeconfig(&key).await,
        text,
        "kubeconfig unchanged"
    );
    env.stop().await;
}
