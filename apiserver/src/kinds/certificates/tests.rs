//! CSR validation, approval rules and the `kubectl get csr` condition text.

use base64::Engine;

use super::*;

fn request_b64() -> String {
    let request =
        common::pki::certificate_request(&common::pki::LeafSpec::client("alice")).unwrap();
    base64::engine::general_purpose::STANDARD.encode(request.csr_pem)
}

fn csr(request: &str) -> Value {
    json!({"metadata": {"name": "alice"}, "spec": {
        "request": request, "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": ["client auth"]}})
}

fn fields(causes: &[Cause]) -> Vec<&str> {
    causes.iter().map(|c| c.field.as_str()).collect()
}

#[test]
fn a_signed_request_is_valid() {
    assert!(
        Csr.validate(None, &csr(&request_b64()), Origin::Client)
            .is_empty()
    );
}

#[test]
fn bad_requests_say_why() {
    let garbage = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    let causes = Csr.validate(None, &csr(&garbage), Origin::Client);
    assert_eq!(fields(&causes), ["spec.request"]);
    let mut bad = csr(&request_b64());
    bad["spec"]["signerName"] = json!("not-qualified");
    bad["spec"]["usages"] = json!(["client auth", "client auth", "teleport"]);
    bad["spec"]["expirationSeconds"] = json!(60);
    let causes = Csr.validate(None, &bad, Origin::Client);
    assert_eq!(
        fields(&causes),
        [
            "spec.signerName",
            "spec.expirationSeconds",
            "spec.usages[1]",
            "spec.usages[2]"
        ]
    );
}

#[test]
fn approval_rules() {
    let old = csr(&request_b64());
    let mut both = old.clone();
    both["status"] = json!({"conditions": [
        {"type": "Approved", "status": "True"}, {"type": "Denied", "status": "True"}]});
    let causes = Csr.validate(Some(&old), &both, Origin::Client);
    assert!(
        causes[0].message.contains("mutually exclusive"),
        "{causes:?}"
    );
    let mut approved = old.clone();
    approved["status"] = json!({"conditions": [{"type": "Approved", "status": "True"}]});
    let causes = Csr.validate(Some(&approved), &old, Origin::Client);
    assert!(causes[0].message.contains("may not remove"), "{causes:?}");
}

#[test]
fn status_keeps_approval_and_stamps_times() {
    let mut old = csr("x");
    old["status"] = json!({"conditions": [{"type": "Approved", "status": "True",
        "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    let mut new = old.clone();
    new["status"] = json!({"conditions": [{"type": "Failed", "status": "True"}],
                           "certificate": "Y2VydA=="});
    Csr.prepare_subresource_update("status", &old, &mut new);
    let types: Vec<&str> = conditions(&new).iter().map(condition_type).collect();
    assert_eq!(types, ["Approved", "Failed"]);
    assert_eq!(
        new["status"]["conditions"][0]["lastTransitionTime"],
        "2026-01-01T00:00:00Z"
    );
    assert!(new["status"]["conditions"][1]["lastUpdateTime"].is_string());
    assert_eq!(condition_summary(&new), "Approved,Failed,Issued");
    assert_eq!(condition_summary(&csr("x")), "Pending");
}
