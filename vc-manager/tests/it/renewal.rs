//! Renewal: a leaf near its end of life is re-issued by the same CA; the CA stays.

use std::time::Duration;

use crds::Provisioner;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, PostParams};
use vc_manager::pki::inspect::{parse_cert_pem, verify_signed_by};
use vc_manager::pki::issue::{CaBundle, LeafSpec};
use vc_manager::pki::secrets::{SecretLayout, read_tls};
use vc_manager::pki::{PkiItem, SubjectNames};

use crate::harness::*;

const DAY: i64 = 86_400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_near_expiry_serving_certificate_is_renewed_and_the_ca_kept() {
    let env = Env::start().await;
    env.create("renew", spec(Provisioner::Local)).await;
    let vc = env.wait_running("renew").await;
    let key = vc.status.unwrap().cluster_namespace.unwrap();
    let before = env.secrets(&key).await;
    let (ca_cert, ca_key) = read_tls(&before["root-ca"]).unwrap();
    let (api_cert, _) = read_tls(&before["apiserver-ca"]).unwrap();
    let current = parse_cert_pem(&api_cert).unwrap();

    // Replace the serving certificate with one issued 23 hours into a 1-day life: the same
    // subject and names, only 4% of its life left.
    let ca = CaBundle::load(&ca_cert, &ca_key).unwrap();
    let spec = LeafSpec {
        common_name: key.clone(),
        organizations: vec![],
        names: SubjectNames {
            dns: current.dns.clone(),
            ips: current.ips.clone(),
        },
        server_auth: true,
        client_auth: true,
        lifetime_days: 1,
    };
    let issued_at = Timestamp::from_second(Timestamp::now().as_second() - 23 * 3600).unwrap();
    let old = ca.issue(&spec, issued_at).unwrap();
    let secret = SecretLayout {
        namespace: key.clone(),
    }
    .tls(PkiItem::ApiServer, &old);
    let api: Api<Secret> = Api::namespaced(env.client.clone(), &key);
    let mut replace = secret.clone();
    replace.metadata.resource_version = before["apiserver-ca"].metadata.resource_version.clone();
    api.replace("apiserver-ca", &PostParams::default(), &replace)
        .await
        .unwrap();

    // vc-manager notices on its next resync and re-issues it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let renewed = loop {
        let (cert, _) = read_tls(&api.get("apiserver-ca").await.unwrap()).unwrap();
        let info = parse_cert_pem(&cert).unwrap();
        if info.not_after > Timestamp::now().as_second() + 300 * DAY {
            break cert;
        }
        assert!(tokio::time::Instant::now() < deadline, "not renewed in 30s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    verify_signed_by(&renewed, &ca_cert).unwrap();
    let after = env.secrets(&key).await;
    assert_eq!(read_tls(&after["root-ca"]).unwrap().0, ca_cert, "CA kept");
    assert_eq!(
        after["serviceaccount-rsa"].data, before["serviceaccount-rsa"].data,
        "service-account key kept"
    );
    for other in [
        "etcd-ca",
        "kubelet-client",
        "front-proxy-ca",
        "admin-kubeconfig",
    ] {
        assert_eq!(after[other].data, before[other].data, "{other} untouched");
    }

    // The event says why, and the tenant serves the new certificate (restarted) and works.
    let events: Vec<String> = Api::<Event>::namespaced(env.client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("PKIRenewed"))
        .filter_map(|e| e.note)
        .collect();
    assert!(
        events
            .iter()
            .any(|n| n.contains("apiserver-ca (expires at")),
        "{events:?}"
    );
    env.wait_running("renew").await;
    let text = env.admin_kubeconfig(&key).await;
    let server = vc_manager::pki::kubeconfig::parse(&text).unwrap().server;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if served_certificate(&server, &ca_cert).await.as_deref()
            == Some(pem_der(&renewed).as_slice())
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tenant does not serve the renewed certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tenant = client_from(&text).await;
    tenant.apiserver_version().await.unwrap();
    env.stop().await;
}

fn pem_der(pem: &str) -> Vec<u8> {
    common::pki::pem_block(pem, "certificate").unwrap().1
}

/// The leaf certificate a TLS server presents, verified against `ca_pem`.
async fn served_certificate(url: &str, ca_pem: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::{CertificateDer, ServerName};
    let addr = url.strip_prefix("https://")?.to_string();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(pem_der(ca_pem))).ok()?;
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(&addr).await.ok()?;
    let name = ServerName::try_from("127.0.0.1").ok()?;
    let tls = connector.connect(name, tcp).await.ok()?;
    let (_, conn) = tls.get_ref();
    conn.peer_certificates()?.first().map(|c| c.to_vec())
}
