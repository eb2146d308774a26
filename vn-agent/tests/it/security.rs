//! Everything a tenant must not do: each refused with the right code and reason, and none of it
//! reaching the kubelet.

use http::StatusCode;

use crate::support::{Ca, Client, Tenant, World, root_ca_secret, self_signed_client, status_of};

async fn refused(w: &World, cert: &(String, String), path: &str, code: StatusCode, needle: &str) {
    let resp = w.client(cert).get(path).await.unwrap();
    let (got, status) = status_of(resp).await;
    assert_eq!(got, code, "{path}: {status}");
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["code"], code.as_u16());
    let msg = status["message"].as_str().unwrap();
    assert!(
        msg.contains(needle),
        "{path}: expected {needle:?} in {msg:?}"
    );
    assert_eq!(w.kubelet.count(), 0, "{path} reached the kubelet");
}

#[tokio::test]
async fn tenant_a_cannot_reach_tenant_b_pods() {
    let w = World::start().await;
    let a = w.a.kubelet_client();
    // B's pod name resolves inside A's own super namespace, where it does not exist.
    refused(
        &w,
        &a,
        "/containerLogs/default/b-only/app",
        StatusCode::NOT_FOUND,
        "not found",
    )
    .await;
    // A super pod in A's namespace that carries B's ownership is still not A's.
    let mut planted = w.b.pod("default", "planted", "x", Some("node-1"));
    planted.metadata.namespace = Some(w.a.super_ns("default"));
    w.sup.put_pod(&w.a, "default", planted).await;
    refused(
        &w,
        &a,
        "/containerLogs/default/planted/app",
        StatusCode::FORBIDDEN,
        "not a pod of this virtual cluster",
    )
    .await;
}

#[tokio::test]
async fn certificate_with_b_cn_signed_by_a_ca_is_refused() {
    let w = World::start().await;
    let forged = w.a.ca.client(w.b.key());
    refused(
        &w,
        &forged,
        "/containerLogs/default/web/app",
        StatusCode::FORBIDDEN,
        "does not verify against the root CA",
    )
    .await;
}

#[tokio::test]
async fn self_signed_certificate_is_refused() {
    let w = World::start().await;
    let cert = self_signed_client(w.a.key());
    refused(
        &w,
        &cert,
        "/containerLogs/default/web/app",
        StatusCode::FORBIDDEN,
        "does not verify against the root CA",
    )
    .await;
}

#[tokio::test]
async fn expired_certificate_is_refused() {
    let w = World::start().await;
    // 2020-01-01 to 2021-01-01.
    let expired = w.a.ca.client_with(w.a.key(), |spec| {
        spec.validity = common::pki::Validity::Window {
            not_before: jiff::Timestamp::from_second(1_577_836_800).unwrap(),
            not_after: jiff::Timestamp::from_second(1_609_459_200).unwrap(),
        };
    });
    refused(
        &w,
        &expired,
        "/containerLogs/default/web/app",
        StatusCode::FORBIDDEN,
        "expired",
    )
    .await;
}

#[tokio::test]
async fn unknown_tenants_are_refused_even_with_a_planted_root_ca() {
    let w = World::start().await;
    // Someone got a `root-ca` secret into A's synced super namespace (a tenant secret named
    // root-ca is copied there by the syncer) and signs a certificate naming that namespace.
    let rogue = Ca::new("rogue");
    w.sup.put_namespace(w.a.namespace("default")).await;
    w.sup
        .put_secret(root_ca_secret(&w.a.super_ns("default"), &rogue))
        .await;
    let cert = rogue.client(&w.a.super_ns("default"));
    refused(
        &w,
        &cert,
        "/pods",
        StatusCode::FORBIDDEN,
        "no virtual cluster has the cluster key",
    )
    .await;
    // A CN that names nothing at all.
    let nobody = Tenant::new("tenants-000000-ghost", "ghost");
    refused(
        &w,
        &nobody.kubelet_client(),
        "/containerLogs/default/web/app",
        StatusCode::FORBIDDEN,
        "no virtual cluster has the cluster key",
    )
    .await;
    // A CN that is not even a namespace name.
    let weird = w.a.ca.client("Not A Key");
    refused(
        &w,
        &weird,
        "/pods",
        StatusCode::FORBIDDEN,
        "CN must be the cluster key",
    )
    .await;
}

#[tokio::test]
async fn crafted_namespace_mapping_onto_another_tenants_namespace_is_refused() {
    let w = World::start().await;
    // Tenant C's cluster key extends A's (possible with status.clusterNamespace), so A's tenant
    // namespace "x-prod" maps onto the super namespace of C's "prod".
    let c = Tenant::new(&format!("{}-x", w.a.key()), "gamma");
    c.install(&w.sup).await;
    w.sup
        .put_pod(&c, "prod", c.pod("prod", "db", "c-db-uid", Some("node-1")))
        .await;
    assert_eq!(w.a.super_ns("x-prod"), c.super_ns("prod"));
    let a = w.a.kubelet_client();
    refused(
        &w,
        &a,
        "/exec/x-prod/db/db?command=sh",
        StatusCode::FORBIDDEN,
        "not a pod of this virtual cluster",
    )
    .await;
    refused(
        &w,
        &a,
        "/containerLogs/x-prod/db/db",
        StatusCode::FORBIDDEN,
        "not a pod of this virtual cluster",
    )
    .await;
    // C itself gets in.
    let resp = w
        .client(&c.kubelet_client())
        .get("/containerLogs/prod/db/db")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn mismatching_uid_is_refused() {
    let w = World::start().await;
    let a = w.a.kubelet_client();
    // The super pod's own uid is not the tenant's uid either.
    let super_uid = w.sup.pod_uid(&w.a.super_ns("default"), "web").await;
    for path in [
        "/exec/default/web/b-web-uid/app?command=ls".to_string(),
        format!("/exec/default/web/{super_uid}/app?command=ls"),
        "/attach/default/web/wrong/app".to_string(),
        "/portForward/default/web/wrong".to_string(),
    ] {
        refused(&w, &a, &path, StatusCode::FORBIDDEN, "does not have uid").await;
    }
}

#[tokio::test]
async fn node_wide_endpoints_are_refused() {
    let w = World::start().await;
    let a = w.a.kubelet_client();
    for path in [
        "/stats/summary",
        "/stats/",
        "/metrics",
        "/metrics/cadvisor",
        "/metrics/resource",
        "/metrics/probes",
        "/logs/",
        "/logs/kubelet.log",
        "/spec/",
        "/configz",
        "/debug/pprof/",
        "/checkpoint/default/web/app",
        "/runningpods/",
    ] {
        refused(&w, &a, path, StatusCode::FORBIDDEN, "node-wide").await;
    }
    refused(&w, &a, "/nope", StatusCode::NOT_FOUND, "not served").await;
    refused(
        &w,
        &a,
        "/containerLogs/Default/web/app",
        StatusCode::BAD_REQUEST,
        "invalid namespace",
    )
    .await;
}

#[tokio::test]
async fn clients_without_a_certificate_fail_the_handshake() {
    let w = World::start().await;
    let anonymous = Client::new(w.agent.local_addr(), None);
    assert!(
        anonymous
            .get("/containerLogs/default/web/app")
            .await
            .is_err()
    );
    assert_eq!(w.kubelet.count(), 0);
}

/// Records the CA names the server's CertificateRequest lists, then presents a certificate.
#[derive(Debug)]
struct HintRecorder {
    key: std::sync::Arc<rustls::sign::CertifiedKey>,
    hints: std::sync::Mutex<Option<usize>>,
}

impl rustls::client::ResolvesClientCert for HintRecorder {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<std::sync::Arc<rustls::sign::CertifiedKey>> {
        *self.hints.lock().unwrap() = Some(root_hint_subjects.len());
        Some(self.key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn certificate_request_lists_no_acceptable_cas() {
    use std::sync::Arc;
    let w = World::start().await;
    let (cert, key) = w.a.kubelet_client();
    let provider = common::tls::provider();
    let signing = provider
        .key_provider
        .load_private_key(common::tls::private_key_from_pem(key.as_bytes()).unwrap())
        .unwrap();
    let recorder = Arc::new(HintRecorder {
        key: Arc::new(rustls::sign::CertifiedKey::new(
            common::tls::certs_from_pem(cert.as_bytes()).unwrap(),
            signing,
        )),
        hints: std::sync::Mutex::new(None),
    });
    let mut config = common::tls::client_config(
        common::tls::ServerVerification::Insecure,
        None,
        &[b"http/1.1"],
    )
    .unwrap();
    config.client_auth_cert_resolver = recorder.clone();
    let tcp = tokio::net::TcpStream::connect(w.agent.local_addr())
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    drop(tls);
    assert_eq!(*recorder.hints.lock().unwrap(), Some(0));
}

#[tokio::test]
async fn rotated_tenant_ca_is_picked_up() {
    let w = World::start_with(|c, _| c.ca_cache_ttl_seconds = 0).await;
    let old = w.a.kubelet_client();
    let ok = w.client(&old).get("/healthz").await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let rotated = Ca::new("alpha-root-ca-2");
    w.sup.put_secret(root_ca_secret(w.a.key(), &rotated)).await;
    refused(
        &w,
        &old,
        "/healthz",
        StatusCode::FORBIDDEN,
        "does not verify",
    )
    .await;
    let new = rotated.client(w.a.key());
    let ok = w.client(&new).get("/healthz").await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}
