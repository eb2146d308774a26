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
