//! Admission webhooks, driven with kubectl against the embedded API server and against the
//! real upstream v1.28 kube-apiserver, both calling the same HTTPS webhook served by this test:
//! a mutating webhook labels configmaps, a validating one refuses a data key, selectors and
//! failure policies decide who is called. The transcripts must be equal.

use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::support::{Kubectl, Step, record, run_scenario, step};

/// The test's webhook: `https://127.0.0.1:<port>` and the CA that signed its certificate.
struct WebhookServer {
    base: String,
    ca_bundle: String,
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The answer to one admission review: `/deny-forbidden` refuses configmaps with a
/// `forbidden` data key, `/add-label` labels the object `webhook=mutated`.
fn answer(path: &str, review: &Value) -> Value {
    let req = &review["request"];
    let uid = req["uid"].clone();
    let obj = &req["object"];
    let mut response = json!({"uid": uid, "allowed": true});
    match path {
        "/deny-forbidden" if obj.pointer("/data/forbidden").is_some() => {
            response = json!({"uid": uid, "allowed": false, "status": {
                "code": 403, "reason": "Forbidden",
                "message": "the data key \"forbidden\" is not allowed here"}});
        }
        "/add-label" => {
            let patch = if obj.pointer("/metadata/labels").is_some() {
                json!([{"op": "add", "path": "/metadata/labels/webhook", "value": "mutated"}])
            } else {
                json!([{"op": "add", "path": "/metadata/labels", "value": {"webhook": "mutated"}}])
            };
            response["patchType"] = json!("JSONPatch");
            response["patch"] =
                json!(base64::engine::general_purpose::STANDARD.encode(patch.to_string()));
            response["warnings"] = json!(["labelled by the test webhook"]);
        }
        _ => {}
    }
    json!({"apiVersion": review["apiVersion"], "kind": "AdmissionReview", "response": response})
}

async fn handle(req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let out = serde_json::to_vec(&answer(&path, &review)).unwrap_or_default();
    Ok(hyper::Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(out)))
        .unwrap())
}

async fn start_webhook() -> WebhookServer {
    let ca = common::pki::Ca::generate("webhook-ca", common::pki::Validity::Unlimited).unwrap();
    let leaf = ca
        .issue(&common::pki::LeafSpec::server("webhook").with_names(["127.0.0.1", "localhost"]))
        .unwrap();
    let chain = common::tls::certs_from_pem(leaf.cert_pem.as_bytes()).unwrap();
    let key = common::tls::private_key_from_pem(leaf.key_pem.as_bytes()).unwrap();
    let config =
        common::tls::server_config(chain, key, common::tls::ClientAuth::None, &[b"http/1.1"])
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                _ = stopped.cancelled() => return,
                a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), hyper::service::service_fn(handle))
                    .await;
            });
        }
    });
    WebhookServer {
        base: format!("https://127.0.0.1:{port}"),
        ca_bundle: base64::engine::general_purpose::STANDARD.encode(ca.cert_pem()),
        stop,
    }
}

fn configs(base: &str, ca: &str) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: parity-mutating
webhooks:
- name: label.parity.example.com
  clientConfig: {{url: "{base}/add-label", caBundle: "{ca}"}}
  rules: [{{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}}]
  namespaceSelector: {{matchLabels: {{hooks: "on"}}}}
  sideEffects: None
  admissionReviewVersions: [v1]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: parity-validating
webhooks:
- name: deny.parity.example.com
  clientConfig: {{url: "{base}/deny-forbidden", caBundle: "{ca}"}}
  rules: [{{operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}}]
  objectSelector: {{matchExpressions: [{{key: skip, operator: DoesNotExist}}]}}
  sideEffects: None
  admissionReviewVersions: [v1, v1beta1]
- name: closed.parity.example.com
  clientConfig: {{url: "https://127.0.0.1:1/closed", caBundle: "{ca}"}}
  rules: [{{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [secrets]}}]
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 5
- name: ignored.parity.example.com
  clientConfig: {{url: "https://127.0.0.1:1/ignored", caBundle: "{ca}"}}
  failurePolicy: Ignore
  rules: [{{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [serviceaccounts]}}]
  sideEffects: None
  admissionReviewVersions: [v1]
"#
    )
}

/// The scenario over an admin kubeconfig; returns its transcript.
fn scenario(admin_yaml: &str, hook: (&str, &str)) -> Vec<Step> {
    let k = Kubectl::new(admin_yaml);
    let mut s = Vec::new();
    k.ok(&["create", "namespace", "hooked"]);
    k.ok(&["label", "namespace", "hooked", "hooks=on"]);
    k.ok(&["create", "namespace", "plain"]);
    k.ok_stdin(&["apply", "-f", "-"], &configs(hook.0, hook.1));
    record(
        &mut s,
        "an invalid configuration",
        k.run_stdin(
            &["apply", "-f", "-"],
            "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: bad\nwebhooks:\n- name: bad.parity.example.com\n  clientConfig: {url: \"http://x\"}\n  admissionReviewVersions: [v1]\n",
        ),
    );
    // The webhooks are called as soon as upstream's configuration cache has them.
    std::thread::sleep(std::time::Duration::from_secs(2));
    record(
        &mut s,
        "create in a hooked namespace",
        k.run(&[
            "-n",
            "hooked",
            "create",
            "configmap",
            "ok",
            "--from-literal=a=b",
        ]),
    );
    record(
        &mut s,
        "mutated label",
        k.run(&[
            "-n",
            "hooked",
            "get",
            "configmap",
            "ok",
            "-o",
            "jsonpath={.metadata.labels}",
        ]),
    );
    record(
        &mut s,
        "create elsewhere is not mutated",
        k.run(&[
            "-n",
            "plain",
            "create",
            "configmap",
            "ok",
            "--from-literal=a=b",
        ]),
    );
    record(
        &mut s,
        "unmutated label",
        k.run(&[
            "-n",
            "plain",
            "get",
            "configmap",
            "ok",
            "-o",
            "jsonpath={.metadata.labels}",
        ]),
    );
    record(
        &mut s,
        "a forbidden key is refused",
        k.run(&[
            "-n",
            "plain",
            "create",
            "configmap",
            "bad",
            "--from-literal=forbidden=x",
        ]),
    );
    record(
        &mut s,
        "an update adding it is refused",
        k.run(&[
            "-n",
            "plain",
            "patch",
            "configmap",
            "ok",
            "-p",
            r#"{"data":{"forbidden":"x"}}"#,
        ]),
    );
    k.ok(&["-n", "plain", "label", "configmap", "ok", "skip=yes"]);
    record(
        &mut s,
        "the object selector lets a labelled object through",
        k.run(&[
            "-n",
            "plain",
            "patch",
            "configmap",
            "ok",
            "-p",
            r#"{"data":{"forbidden":"x"}}"#,
        ]),
    );
    record(
        &mut s,
        "an unreachable webhook fails closed",
        k.run(&[
            "-n",
            "plain",
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=a=b",
        ]),
    );
    record(
        &mut s,
        "an unreachable webhook with failurePolicy Ignore",
        k.run(&["-n", "plain", "create", "serviceaccount", "sa"]),
    );
    record(
        &mut s,
        "webhook configurations are not sent to webhooks",
        k.run(&[
            "delete",
            "validatingwebhookconfiguration",
            "parity-validating",
        ]),
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_scenario_matches_upstream() {
    let test = "webhook_scenario_matches_upstream";
    common::process::install_crypto_provider();
    let hook = start_webhook().await;
    let (base, ca) = (hook.base.clone(), hook.ca_bundle.clone());
    let srv = apiserver::ServerBuilder::new().start().await.unwrap();
    let (b, c) = (base.clone(), ca.clone());
    let embedded = run_scenario(srv.kubeconfig_yaml().to_string(), move |yaml| {
        scenario(yaml, (&b, &c))
    })
    .await;
    let get = |label: &str| step(&embedded, label);
    assert_eq!(
        get("mutated label"),
        r#"ok=true
{"webhook":"mutated"}"#
    );
    assert_eq!(get("unmutated label"), "ok=true\n");
    assert!(get("a forbidden key is refused").contains(
        r#"admission webhook "deny.parity.example.com" denied the request: the data key "forbidden" is not allowed here"#
    ));
    assert!(get("an unreachable webhook fails closed").contains(
        r#"failed calling webhook "closed.parity.example.com": failed to call webhook: Post "https://127.0.0.1:1/closed?timeout=5s": dial tcp 127.0.0.1:1: connect: connection refused"#
    ));
    assert!(get("an unreachable webhook with failurePolicy Ignore").starts_with("ok=true"));
    let on_upstream = move |yaml: &str| scenario(yaml, (&base, &ca));
    crate::upstream::compare_with_upstream(test, "webhook-parity", &embedded, on_upstream).await;
    drop(hook);
}
