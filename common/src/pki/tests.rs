use std::net::IpAddr;

use jiff::Timestamp;

use super::inspect::{parse_cert_pem, verify_signed_by};
use super::*;

const DAY: i64 = 86_400;

fn ca() -> Ca {
    Ca::generate("test-ca", Validity::Unlimited).unwrap()
}

#[test]
fn a_generated_ca_is_a_ca_and_roundtrips_through_pem() {
    let ca = ca();
    let info = parse_cert_pem(ca.cert_pem()).unwrap();
    assert!(info.is_ca && info.key_cert_sign && info.digital_signature);
    assert_eq!(info.common_name.as_deref(), Some("test-ca"));
    let loaded = Ca::from_pem(&ca.pem().cert_pem, &ca.pem().key_pem).unwrap();
    let leaf = loaded.issue(&LeafSpec::client("x")).unwrap();
    assert!(verify_signed_by(&leaf.cert_pem, ca.cert_pem()).is_ok());
}

#[test]
fn leaves_carry_subject_names_and_usages() {
    let ca = ca();
    let server = ca
        .issue(&LeafSpec::server("kube-apiserver").with_names(["localhost", "127.0.0.1", "::1"]))
        .unwrap();
    let info = parse_cert_pem(&server.cert_pem).unwrap();
    assert_eq!(info.common_name.as_deref(), Some("kube-apiserver"));
    assert_eq!(info.dns.iter().collect::<Vec<_>>(), vec!["localhost"]);
    let ips: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    assert_eq!(info.ips.iter().copied().collect::<Vec<_>>(), ips);
    assert!(info.server_auth && !info.client_auth && !info.is_ca);
    assert!(info.digital_signature && !info.key_cert_sign);
    assert_eq!(info.issuer_common_name.as_deref(), Some("test-ca"));

    let client = ca
        .issue(&LeafSpec::client("admin").with_organizations(["system:masters"]))
        .unwrap();
    let info = parse_cert_pem(&client.cert_pem).unwrap();
    assert_eq!(info.common_name.as_deref(), Some("admin"));
    assert_eq!(info.organizations, vec!["system:masters".to_string()]);
    assert!(info.client_auth && !info.server_auth && info.dns.is_empty());
    assert!(key_belongs_to(&client.key_pem, &info).unwrap());
    assert!(!key_belongs_to(&server.key_pem, &info).unwrap());
}

#[test]
fn validity_windows_are_backdated_and_at_least_a_day() {
    let now = Timestamp::now();
    let v = Validity::days_from(now, 300, 365).unwrap();
    let leaf = ca().issue(&LeafSpec::client("x").with_validity(v)).unwrap();
    let info = parse_cert_pem(&leaf.cert_pem).unwrap();
    assert_eq!(info.not_before, now.as_second() - 300);
    assert_eq!(info.not_after, now.as_second() + 365 * DAY);
    let Validity::Window { not_after, .. } = Validity::days_from(now, 0, 0).unwrap() else {
        panic!("a window")
    };
    assert_eq!(not_after.as_second(), now.as_second() + DAY);
    let expired = Validity::Window {
        not_before: Timestamp::from_second(1_577_836_800).unwrap(),
        not_after: Timestamp::from_second(1_609_459_200).unwrap(),
    };
    let leaf = ca()
        .issue(&LeafSpec::client("x").with_validity(expired))
        .unwrap();
    assert!(
        parse_cert_pem(&leaf.cert_pem)
            .unwrap()
            .remaining(now.as_second())
            < 0
    );
}

#[test]
fn self_signed_leaves_verify_against_themselves_only() {
    let leaf = self_signed(&LeafSpec::server("vn-agent").with_names(["localhost"])).unwrap();
    assert!(verify_signed_by(&leaf.cert_pem, &leaf.cert_pem).is_ok());
    assert!(verify_signed_by(&leaf.cert_pem, ca().cert_pem()).is_err());
    assert!(!parse_cert_pem(&leaf.cert_pem).unwrap().is_ca);
}

#[test]
fn loading_refuses_leaves_foreign_keys_and_garbage() {
    let a = ca();
    let b = ca();
    let err = Ca::from_pem(a.cert_pem(), &b.pem().key_pem).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
    let leaf = a.issue(&LeafSpec::client("x")).unwrap();
    let err = Ca::from_pem(&leaf.cert_pem, &leaf.key_pem).unwrap_err();
    assert!(err.to_string().contains("not a CA"), "{err}");
    assert!(Ca::from_pem("garbage", "garbage").is_err());
}

#[test]
fn signing_keys_are_pkcs8_with_their_public_key() {
    let k = signing_key().unwrap();
    assert!(k.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(k.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(public_key_pem(&k.key_pem).unwrap(), k.public_key_pem);
}

#[test]
fn names_that_are_not_ascii_are_refused() {
    let err = ca()
        .issue(&LeafSpec::server("x").with_names(["bücher.example"]))
        .unwrap_err();
    assert!(matches!(err, PkiError::Invalid { .. }), "{err}");
}

#[test]
fn certificate_requests_are_pem() {
    let r = certificate_request(&LeafSpec::client("alice")).unwrap();
    assert!(r.csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    assert!(public_key_pem(&r.key_pem).is_ok());
}

#[test]
fn signed_requests_keep_the_subject_and_carry_only_the_granted_usages() {
    let ca = ca();
    let spec = LeafSpec::server("system:node:n1")
        .with_organizations(["system:nodes"])
        .with_names(["n1.example", "10.0.0.7"]);
    let request = certificate_request(&spec).unwrap();
    let info = parse_request_pem(&request.csr_pem).unwrap();
    assert_eq!(info.common_name, "system:node:n1");
    assert_eq!(info.organizations, vec!["system:nodes".to_string()]);
    assert_eq!(info.dns_names, vec!["n1.example".to_string()]);
    assert_eq!(
        info.ip_addresses,
        vec!["10.0.0.7".parse::<IpAddr>().unwrap()]
    );

    let now = Timestamp::now();
    let grant = Grant {
        usages: vec![Usage::DigitalSignature, Usage::ClientAuth],
        not_before: now - jiff::SignedDuration::from_secs(300),
        not_after: now + jiff::SignedDuration::from_secs(3600),
    };
    let pem = ca.sign_request(&request.csr_pem, &grant).unwrap();
    verify_signed_by(&pem, ca.cert_pem()).unwrap();
    let cert = parse_cert_pem(&pem).unwrap();
    assert_eq!(cert.common_name.as_deref(), Some("system:node:n1"));
    assert!(cert.client_auth && !cert.server_auth && !cert.is_ca);
    assert!(cert.dns.contains("n1.example"));
    assert_eq!(cert.lifetime(), 3900);
    // The certificate is for the requester's key.
    let key_info = key_belongs_to(&request.key_pem, &cert).unwrap();
    assert!(key_info);

    assert!(parse_request_pem("garbage").is_err());
    assert!(ca.sign_request(ca.cert_pem(), &grant).is_err());
}
