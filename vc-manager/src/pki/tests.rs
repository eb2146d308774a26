//! The tenant PKI checked with an X.509 parser: chains, SANs, usages, lifetimes, renewal.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;

use super::inspect::{CertInfo, parse_cert_pem, verify_signed_by};
use super::plan::execute;
use super::secrets::{SecretLayout, read_string, read_tls};
use super::*;

const DAY: i64 = 86_400;

fn spec() -> PkiSpec {
    let mut apiserver = SubjectNames::default();
    for n in [
        "apiserver-svc",
        "apiserver-svc.ns-abc123-demo",
        "kubernetes",
        "10.96.0.17",
        "127.0.0.1",
    ] {
        apiserver.add(n);
    }
    let mut etcd = SubjectNames::default();
    etcd.add("etcd-0.etcd");
    etcd.add("127.0.0.1");
    PkiSpec {
        cluster_key: "ns-abc123-demo".into(),
        cluster_name: "demo".into(),
        expire_days: 365,
        apiserver_names: apiserver,
        etcd_names: etcd,
        items: PkiItem::ALL.into_iter().collect(),
        admin_server: "https://10.96.0.17:6443".into(),
        controller_manager_server: "https://apiserver-svc:6443".into(),
    }
}

fn layout() -> SecretLayout {
    SecretLayout {
        namespace: "ns-abc123-demo".into(),
    }
}

fn at(unix: i64) -> Timestamp {
    Timestamp::from_second(unix).unwrap()
}

/// Issues what the plan says and stores it, returning the plan that was executed.
fn converge(spec: &PkiSpec, stored: &mut BTreeMap<String, Secret>, now: i64) -> PkiPlan {
    let p = plan(spec, stored, now);
    assert!(p.blocked.is_none(), "{:?}", p.blocked);
    for s in execute(spec, &p, stored, &layout(), at(now)).unwrap() {
        stored.insert(s.metadata.name.clone().unwrap(), s);
    }
    p
}

fn cert_of(stored: &BTreeMap<String, Secret>, item: PkiItem) -> String {
    let s = &stored[item.secret_name()];
    if item.is_kubeconfig() {
        let text = read_string(s, item.secret_name()).unwrap();
        kubeconfig::parse(&text).unwrap().client_cert_pem.unwrap()
    } else {
        read_tls(s).unwrap().0
    }
}

fn info(stored: &BTreeMap<String, Secret>, item: PkiItem) -> CertInfo {
    parse_cert_pem(&cert_of(stored, item)).unwrap()
}

fn items(p: &PkiPlan) -> Vec<PkiItem> {
    p.issue.iter().map(|(i, _)| *i).collect()
}

#[test]
fn fresh_tenant_gets_everything_once() {
    let spec = spec();
    let now = Timestamp::now().as_second();
    let mut stored = BTreeMap::new();
    let first = converge(&spec, &mut stored, now);
    assert_eq!(
        items(&first),
        PkiItem::ALL.to_vec(),
        "root CA first, then all"
    );
    assert!(first.issue.iter().all(|(_, r)| *r == IssueReason::Missing));
    assert_eq!(stored.len(), 8);

    let again = plan(&spec, &stored, now + 60);
    assert!(
        again.is_ready(),
        "nothing is regenerated: {}",
        again.summary()
    );
    let renew_at = again.next_renewal.unwrap();
    let expected = now + 365 * DAY - 73 * DAY;
    assert!(
        (renew_at - expected).abs() < 400,
        "{renew_at} vs {expected}"
    );
}

#[test]
fn leaves_chain_to_the_root_ca_with_the_right_usages() {
    let spec = spec();
    let now = Timestamp::now().as_second();
    let mut stored = BTreeMap::new();
    converge(&spec, &mut stored, now);
    let ca_pem = read_tls(&stored["root-ca"]).unwrap().0;
    let ca = parse_cert_pem(&ca_pem).unwrap();
    assert!(ca.is_ca && ca.key_cert_sign);
    assert!((ca.not_after - now - 3650 * DAY).abs() < 10, "CA lives 10x");
    assert!(verify_signed_by(&ca_pem, &ca_pem).is_ok(), "self-signed");

    let expect: [(PkiItem, &str, &[&str], bool, bool); 6] = [
        (PkiItem::ApiServer, "ns-abc123-demo", &[], true, true),
        (PkiItem::Etcd, "kube-etcd", &[], true, true),
        (PkiItem::FrontProxy, "front-proxy-client", &[], false, true),
        (PkiItem::KubeletClient, "ns-abc123-demo", &[], false, true),
        (
            PkiItem::AdminKubeconfig,
            "admin",
            &["system:masters"],
            false,
            true,
        ),
        (
            PkiItem::ControllerManagerKubeconfig,
            "system:kube-controller-manager",
            &[],
            false,
            true,
        ),
    ];
    for (item, cn, orgs, server, client) in expect {
        let c = info(&stored, item);
        assert!(
            verify_signed_by(&cert_of(&stored, item), &ca_pem).is_ok(),
            "{item}"
        );
        assert_eq!(c.common_name.as_deref(), Some(cn), "{item}");
        assert_eq!(c.organizations, orgs.to_vec(), "{item}");
        assert_eq!((c.server_auth, c.client_auth), (server, client), "{item}");
        assert!(
            !c.is_ca && !c.key_cert_sign && c.digital_signature,
            "{item}"
        );
        assert_eq!(c.issuer_common_name.as_deref(), Some("kubernetes"));
        assert!(
            (c.not_after - now - 365 * DAY).abs() < 10,
            "{item} lifetime"
        );
        assert!(
            c.not_before <= now - BACKDATE_SECONDS + 1,
            "{item} backdated"
        );
    }
}

#[test]
fn serving_certificates_carry_exactly_the_requested_names() {
    let spec = spec();
    let mut stored = BTreeMap::new();
    converge(&spec, &mut stored, Timestamp::now().as_second());
    let api = info(&stored, PkiItem::ApiServer);
    assert_eq!(
        api.dns,
        BTreeSet::from([
            "apiserver-svc".to_string(),
            "apiserver-svc.ns-abc123-demo".to_string(),
            "kubernetes".to_string()
        ])
    );
    let ips: BTreeSet<IpAddr> = ["10.96.0.17", "127.0.0.1"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(api.ips, ips);
    let etcd = info(&stored, PkiItem::Etcd);
    assert!(etcd.dns.contains("etcd-0.etcd"));
    assert!(info(&stored, PkiItem::KubeletClient).dns.is_empty());
}

#[test]
fn near_expiry_leaves_are_renewed_and_the_ca_is_kept() {
    let spec = spec();
    let issued = Timestamp::now().as_second() - 300 * DAY;
    let mut stored = BTreeMap::new();
    converge(&spec, &mut stored, issued);
    let ca_before = read_tls(&stored["root-ca"]).unwrap();
    let sa_before = read_tls(&stored["serviceaccount-rsa"]).unwrap();

    // 292 days in (80%): nothing yet; 293 days: renewal point passed.
    assert!(plan(&spec, &stored, issued + 291 * DAY).is_ready());
    let now = issued + 300 * DAY;
    let p = converge(&spec, &mut stored, now);
    let renewed = items(&p);
    assert!(!renewed.contains(&PkiItem::RootCa));
    assert!(!renewed.contains(&PkiItem::ServiceAccount));
    assert_eq!(renewed.len(), 6, "{}", p.summary());
    assert!(
        p.issue
            .iter()
            .all(|(_, r)| matches!(r, IssueReason::Expiring { .. }))
    );
    assert_eq!(read_tls(&stored["root-ca"]).unwrap(), ca_before);
    assert_eq!(read_tls(&stored["serviceaccount-rsa"]).unwrap(), sa_before);
    let api = info(&stored, PkiItem::ApiServer);
    assert!((api.not_after - now - 365 * DAY).abs() < 10);
    assert!(verify_signed_by(&cert_of(&stored, PkiItem::ApiServer), &ca_before.0).is_ok());
    assert!(plan(&spec, &stored, now).is_ready());
}

#[test]
fn changed_inputs_reissue_only_what_they_affect() {
    let mut spec = spec();
    let now = Timestamp::now().as_second();
    let mut stored = BTreeMap::new();
    converge(&spec, &mut stored, now);

    spec.apiserver_names.add("203.0.113.7");
    let p = plan(&spec, &stored, now);
    assert_eq!(
        p.issue,
        vec![(PkiItem::ApiServer, IssueReason::NamesChanged)]
    );

    spec.admin_server = "https://203.0.113.7:6443".into();
    converge(&spec, &mut stored, now);
    let p = plan(&spec, &stored, now);
    assert!(p.is_ready(), "{}", p.summary());
    let text = read_string(&stored["admin-kubeconfig"], "admin-kubeconfig").unwrap();
    assert_eq!(
        kubeconfig::parse(&text).unwrap().server,
        "https://203.0.113.7:6443"
    );
}

#[test]
fn a_deleted_root_ca_reissues_everything_but_the_service_account_key() {
    let spec = spec();
    let now = Timestamp::now().as_second();
    let mut stored = BTreeMap::new();
    converge(&spec, &mut stored, now);
    stored.remove("root-ca");
    let p = plan(&spec, &stored, now);
    assert_eq!(p.issue[0], (PkiItem::RootCa, IssueReason::Missing));
    assert_eq!(p.issue.len(), 7);
    assert!(
        p.issue[1..]
            .iter()
            .all(|(_, r)| *r == IssueReason::CaChanged)
    );
    converge(&spec, &mut stored, now);
    assert!(plan(&spec, &stored, now).is_ready());
}

#[test]
fn foreign_or_broken_leaves_are_replaced() {
    let spec = spec();
    let now = Timestamp::now().as_second();
    let mut stored = BTreeMap::new();
    converge(&spec, &mut stored, now);
    let mut other = BTreeMap::new();
    converge(&spec, &mut other, now);
    stored.insert("etcd-ca".into(), other["etcd-ca"].clone());
    let mut broken = stored["front-proxy-ca"].clone();
    broken.data.as_mut().unwrap().insert(
        "tls.key".into(),
        other["front-proxy-ca"].data.as_ref().unwrap()["tls.key"].clone(),
    );
    stored.insert("front-proxy-ca".into(), broken);
    let p = plan(&spec, &stored, now);
    assert_eq!(p.issue.len(), 2, "{}", p.summary());
    assert_eq!(p.issue[0], (PkiItem::Etcd, IssueReason::NotSignedByCa));
    assert!(
        matches!(&p.issue[1], (PkiItem::FrontProxy, IssueReason::Invalid(m)) if m.contains("does not belong"))
    );
}

#[test]
fn an_unusable_root_ca_blocks_with_instructions() {
    let spec = spec();
    let now = Timestamp::now().as_second();
    let mut stored = BTreeMap::new();
    converge(&spec, &mut stored, now);
    let mut bad = stored["root-ca"].clone();
    bad.metadata.namespace = Some("ns-abc123-demo".into());
    bad.data.as_mut().unwrap().remove("tls.key");
    stored.insert("root-ca".into(), bad);
    let p = plan(&spec, &stored, now);
    let msg = p.blocked.expect("blocked");
    assert!(
        msg.contains("root-ca") && msg.contains("delete it"),
        "{msg}"
    );
    assert!(p.issue.is_empty());

    stored.clear();
    converge(&spec, &mut stored, now - 3651 * DAY);
    let msg = plan(&spec, &stored, now)
        .blocked
        .expect("expired CA blocks");
    assert!(msg.contains("expired"), "{msg}");
}

#[test]
fn upstream_rsa_root_ca_keeps_signing() {
    let mut spec = spec();
    spec.items = [PkiItem::ApiServer, PkiItem::KubeletClient]
        .into_iter()
        .collect();
    let ca = CertKey {
        cert_pem: include_str!("testdata/rsa-ca.crt").into(),
        key_pem: include_str!("testdata/rsa-ca.key").into(),
    };
    let mut stored = BTreeMap::from([("root-ca".to_string(), layout().tls(PkiItem::RootCa, &ca))]);
    let now = Timestamp::now().as_second();
    let p = converge(&spec, &mut stored, now);
    assert_eq!(items(&p), vec![PkiItem::ApiServer, PkiItem::KubeletClient]);
    assert!(verify_signed_by(&cert_of(&stored, PkiItem::KubeletClient), &ca.cert_pem).is_ok());
    assert!(plan(&spec, &stored, now).is_ready());
}

#[test]
fn service_account_key_is_pkcs8_with_its_public_key() {
    let sa = issue::service_account_key().unwrap();
    assert!(sa.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(sa.cert_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(
        common::pki::public_key_pem(&sa.key_pem).unwrap(),
        sa.cert_pem
    );
}

#[test]
fn secrets_use_upstream_layout() {
    let spec = spec();
    let mut stored = BTreeMap::new();
    converge(&spec, &mut stored, Timestamp::now().as_second());
    for item in PkiItem::ALL {
        let s = &stored[item.secret_name()];
        assert_eq!(s.metadata.namespace.as_deref(), Some("ns-abc123-demo"));
        let keys: Vec<&String> = s.data.as_ref().unwrap().keys().collect();
        if item.is_kubeconfig() {
            assert_eq!(s.type_.as_deref(), Some("Opaque"));
            assert_eq!(keys, vec![item.secret_name()]);
        } else {
            assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
            assert_eq!(keys, vec!["tls.crt", "tls.key"]);
        }
    }
}
