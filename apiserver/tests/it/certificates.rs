//! `certificates.k8s.io` and `pods/ephemeralcontainers` driven by the real kubectl: CSR
//! create/list/approve/deny (the `approval` subresource) and `kubectl debug`.

use base64::Engine;

use crate::harness::{Kubectl, server};

/// A CSR manifest for a fresh key with common name `cn`.
fn csr_manifest(name: &str, cn: &str) -> String {
    let pem = common::pki::certificate_request(&common::pki::LeafSpec::client(cn))
        .unwrap()
        .csr_pem;
    let request = base64::engine::general_purpose::STANDARD.encode(pem);
    format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  request: {request}\n  signerName: example.com/tests\n  expirationSeconds: 86400\n  usages: [client auth]\n  username: someone-else\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_creates_lists_approves_and_denies_csrs() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    k.ok_stdin(&["create", "-f", "-"], &csr_manifest("alice", "alice"));
    k.ok_stdin(&["create", "-f", "-"], &csr_manifest("mallory", "mallory"));
    let out = k.ok(&["get", "csr"]);
    let header = out.lines().next().unwrap_or_default();
    for col in [
        "NAME",
        "AGE",
        "SIGNERNAME",
        "REQUESTOR",
        "REQUESTEDDURATION",
        "CONDITION",
    ] {
        assert!(header.contains(col), "{out}");
    }
    assert!(out.contains("example.com/tests"), "{out}");
    assert!(out.contains("24h"), "{out}");
    assert!(out.contains("Pending"), "{out}");
    // The requester is who sent the create, not what the body claims.
    let user = k.ok(&["get", "csr", "alice", "-o", "jsonpath={.spec.username}"]);
    assert_ne!(user, "someone-else");
    assert!(!user.is_empty());

    let out = k.ok(&["certificate", "approve", "alice"]);
    assert!(out.contains("approved"), "{out}");
    let cond = k.ok(&[
        "get",
        "csr",
        "alice",
        "-o",
        "jsonpath={.status.conditions[0].type}/{.status.conditions[0].reason}",
    ]);
    assert_eq!(cond, "Approved/KubectlApprove");
    // The main resource cannot change the spec or the approval.
    let (ok, _, err) = k.run(&[
        "patch",
        "csr",
        "alice",
        "--type=merge",
        "-p",
        r#"{"spec":{"signerName":"example.com/other"},"status":{"conditions":[]}}"#,
    ]);
    assert!(ok, "{err}");
    let after = k.ok(&[
        "get",
        "csr",
        "alice",
        "-o",
        "jsonpath={.spec.signerName} {.status.conditions[0].type}",
    ]);
    assert_eq!(after, "example.com/tests Approved");

    match Kubectl::versioned(&srv, "1.28") {
        Some(old) => old.ok(&["certificate", "deny", "mallory"]),
        None => k.ok(&["certificate", "deny", "mallory"]),
    };
    let out = k.ok(&["get", "csr", "mallory"]);
    assert!(out.contains("Denied"), "{out}");
    // Approved and Denied exclude each other (kubectl checks too; the server is the guard).
    let mut obj: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "csr", "mallory", "-o", "json"])).unwrap();
    obj["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "Approved", "status": "True", "reason": "Sneaky"}));
    let file = k.kubeconfig().with_file_name("mallory.json");
    std::fs::write(&file, obj.to_string()).unwrap();
    let (ok, _, err) = k.run(&[
        "replace",
        "--raw",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/mallory/approval",
        "-f",
        file.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("mutually exclusive"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_containers_only_through_their_subresource() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\nspec:\n  containers:\n  - name: app\n    image: nginx\n";
    let with_debug = format!("{pod}  ephemeralContainers:\n  - name: dbg\n    image: busybox\n");
    let (ok, _, err) = k.run_stdin(&["create", "-f", "-"], Some(&with_debug));
    assert!(!ok);
    assert!(
        err.contains("spec.ephemeralContainers: Forbidden: cannot be set on create"),
        "{err}"
    );
    k.ok_stdin(&["create", "-f", "-"], pod);
    k.ok(&[
        "debug",
        "web",
        "--image=busybox",
        "-c",
        "dbg",
        "--target=app",
    ]);
    let names = k.ok(&[
        "get",
        "pod",
        "web",
        "-o",
        "jsonpath={.spec.ephemeralContainers[*].name}",
    ]);
    assert_eq!(names, "dbg");
    // An update of the pod itself may not touch them.
    let (ok, _, err) = k.run(&[
        "patch",
        "pod",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/ephemeralContainers"}]"#,
    ]);
    assert!(!ok);
    assert!(err.contains("pod updates may not change fields"), "{err}");
    // Nor may the subresource change one already there.
    let (ok, _, err) = k.run(&[
        "patch",
        "pod",
        "web",
        "--subresource=ephemeralcontainers",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/ephemeralContainers/0/image","value":"alpine"}]"#,
    ]);
    assert!(!ok);
    assert!(err.contains("may not be changed"), "{err}");
}

/// A CSR manifest for signer `signer` with the given usages, and the request's private key.
fn signer_csr(
    name: &str,
    spec: &common::pki::LeafSpec,
    signer: &str,
    usages: &str,
) -> (String, String) {
    let request = common::pki::certificate_request(spec).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&request.csr_pem);
    let manifest = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  request: {encoded}\n  signerName: {signer}\n  expirationSeconds: 3600\n  usages: [{usages}]\n"
    );
    (manifest, request.key_pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_requests_of_built_in_signers_get_working_certificates() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let dir = tempfile::tempdir().unwrap();
    let (manifest, key_pem) = signer_csr(
        "dev",
        &common::pki::LeafSpec::client("dev-user").with_organizations(["devs"]),
        "kubernetes.io/kube-apiserver-client",
        "digital signature, client auth",
    );
    let (bad, _) = signer_csr(
        "bad-serving",
        &common::pki::LeafSpec::server("not-a-node").with_names(["n1.local"]),
        "kubernetes.io/kubelet-serving",
        "digital signature, server auth",
    );
    let (other, _) = signer_csr(
        "other",
        &common::pki::LeafSpec::client("x"),
        "example.com/mine",
        "client auth",
    );
    let ca = srv.ca_pem().to_string();
    let url = srv.url().to_string();
    tokio::task::spawn_blocking(move || {
        for m in [&manifest, &bad, &other] {
            k.ok_stdin(&["create", "-f", "-"], m);
        }
        k.ok(&["certificate", "approve", "dev", "bad-serving", "other"]);
        let cert_b64 = wait_for(|| {
            let c = k.ok(&["get", "csr", "dev", "-o", "jsonpath={.status.certificate}"]);
            (!c.is_empty()).then_some(c)
        });
        let cert = base64::engine::general_purpose::STANDARD
            .decode(cert_b64.trim())
            .unwrap();
        let info = common::pki::inspect::parse_cert_pem(&String::from_utf8(cert.clone()).unwrap())
            .unwrap();
        assert_eq!(info.common_name.as_deref(), Some("dev-user"));
        assert!(info.client_auth && !info.server_auth);
        assert!(info.lifetime() <= 3600, "{}", info.lifetime());
        // The certificate authenticates as its subject.
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let kubeconfig = dir.path().join("dev.kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {url}\n    certificate-authority-data: {}\ncontexts:\n- name: c\n  context: {{cluster: c, user: dev}}\ncurrent-context: c\nusers:\n- name: dev\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
                b64(ca.as_bytes()),
                b64(&cert),
                b64(key_pem.as_bytes())
            ),
        )
        .unwrap();
        let whoami = k.ok(&["--kubeconfig", kubeconfig.to_str().unwrap(), "auth", "whoami"]);
        assert!(whoami.contains("dev-user") && whoami.contains("devs"), "{whoami}");

        let failed = wait_for(|| {
            let c = k.ok(&[
                "get", "csr", "bad-serving", "-o",
                "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}: {.status.conditions[?(@.type==\"Failed\")].message}",
            ]);
            (!c.trim().is_empty() && c.trim() != ":").then_some(c)
        });
        assert_eq!(
            failed,
            "SignerValidationFailure: subject organization is not system:nodes"
        );
        let listed = k.ok(&["get", "csr", "bad-serving", "other"]);
        assert!(listed.contains("Approved,Failed"), "{listed}");
        let other = k.ok(&["get", "csr", "other", "-o", "jsonpath={.status.certificate}"]);
        assert_eq!(other, "", "a signer we do not run issues nothing");
    })
    .await
    .unwrap();
}

/// Polls `f` for up to ten seconds.
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..100 {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("condition not reached in 10 s");
}
