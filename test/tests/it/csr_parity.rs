//! `certificates.k8s.io` driven with kubectl against the embedded API server and against the real
//! upstream v1.28 control plane (its controller-manager signs): a client-certificate request for
//! `kubernetes.io/kube-apiserver-client` is listed, approved, signed, and its certificate then
//! authenticates as the requested user; a second request is denied and cannot be approved
//! afterwards. The transcripts must be equal.

use std::time::{Duration, Instant};

use base64::Engine;
use common::pki::{LeafSpec, RequestKey};

use crate::support::{Kubectl, Step, record, run_scenario, step};

/// A CSR manifest asking signer `kubernetes.io/kube-apiserver-client` for `request`.
fn manifest(name: &str, request: &RequestKey) -> String {
    let request = base64::engine::general_purpose::STANDARD.encode(&request.csr_pem);
    format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  request: {request}\n  signerName: kubernetes.io/kube-apiserver-client\n  expirationSeconds: 3600\n  usages: [digital signature, key encipherment, client auth]\n"
    )
}

/// `kubectl get csr` rows without AGE and REQUESTOR (the admin users differ by name).
fn row((ok, out, err): (bool, String, String)) -> (bool, String, String) {
    let rows: Vec<String> = out
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 1 && *i != 3)
                .map(|(_, c)| *c)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    (ok, rows.join("\n"), err)
}

/// A kubeconfig for the same cluster as `k`, authenticating with `cert_b64` (base64 PEM) and
/// `key_pem`.
fn kubeconfig_for(k: &Kubectl, cert_b64: &str, key_pem: &str) -> String {
    let cluster = k.ok(&[
        "config",
        "view",
        "--raw",
        "--minify",
        "-o",
        "jsonpath={.clusters[0].cluster.server} {.clusters[0].cluster.certificate-authority-data}",
    ]);
    let (server, ca) = cluster
        .split_once(' ')
        .expect("kubeconfig has a server and a CA");
    let key = base64::engine::general_purpose::STANDARD.encode(key_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    client-certificate-data: {cert_b64}\n    client-key-data: {key}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
    )
}

fn scenario(admin_yaml: &str) -> Vec<Step> {
    let k = Kubectl::new(admin_yaml);
    let mut s = Vec::new();
    let spec = LeafSpec::client("alice").with_organizations(["devs"]);
    let alice = common::pki::certificate_request(&spec).unwrap();
    let bob = common::pki::certificate_request(&LeafSpec::client("bob")).unwrap();
    record(
        &mut s,
        "create alice",
        k.run_stdin(&["create", "-f", "-"], &manifest("alice", &alice)),
    );
    record(
        &mut s,
        "pending row",
        row(k.run(&["get", "csr", "alice", "--no-headers"])),
    );
    record(
        &mut s,
        "approve",
        k.run(&["certificate", "approve", "alice"]),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let cert = loop {
        let c = k.ok(&[
            "get",
            "csr",
            "alice",
            "-o",
            "jsonpath={.status.certificate}",
        ]);
        if !c.is_empty() || Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    s.push((
        "issued".into(),
        format!("certificate issued: {}", !cert.is_empty()),
    ));
    record(
        &mut s,
        "approved row",
        row(k.run(&["get", "csr", "alice", "--no-headers"])),
    );
    record(
        &mut s,
        "condition",
        k.run(&[
            "get",
            "csr",
            "alice",
            "-o",
            "jsonpath={.status.conditions[*].type}/{.status.conditions[*].reason}/{.status.conditions[*].message}",
        ]),
    );
    let as_alice = Kubectl::new(&kubeconfig_for(&k, &cert, &alice.key_pem));
    record(
        &mut s,
        "alice authenticates",
        as_alice.run(&["get", "pods", "-n", "default"]),
    );
    record(
        &mut s,
        "create bob",
        k.run_stdin(&["create", "-f", "-"], &manifest("bob", &bob)),
    );
    record(&mut s, "deny", k.run(&["certificate", "deny", "bob"]));
    record(
        &mut s,
        "denied row",
        row(k.run(&["get", "csr", "bob", "--no-headers"])),
    );
    record(
        &mut s,
        "approve after deny",
        k.run(&["certificate", "approve", "bob"]),
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csr_scenario_matches_upstream() {
    let test = "csr_scenario_matches_upstream";
    common::process::install_crypto_provider();
    let srv = apiserver::ServerBuilder::new().start().await.unwrap();
    let embedded = run_scenario(srv.kubeconfig_yaml().to_string(), scenario).await;
    assert_eq!(step(&embedded, "issued"), "certificate issued: true");
    assert!(step(&embedded, "alice authenticates").contains("User \"alice\""));
    crate::upstream::compare_with_upstream(test, "csr-parity", &embedded, scenario).await;
}
