//! API aggregation, driven with kubectl against the embedded API server and against the real
//! upstream v1.28 kube-apiserver, both proxying to the same tiny HTTPS aggregated API server
//! served by this test (group `wardle.example.com`, resource `flunders`): availability,
//! discovery, proxied reads and a watch, the caller's identity as the backend sees it through
//! the front proxy, and what clients see once the backend is gone. The transcripts must be equal.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::support::{Kubectl, Step, compare, record, say, step};

const GROUP: &str = "wardle.example.com";

/// The test's aggregated API server: `127.0.0.1:<port>`, the CA of its certificate.
struct Backend {
    port: u16,
    ca_bundle: String,
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

type RespBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn json_resp(status: u16, v: &Value) -> hyper::Response<RespBody> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())).boxed())
        .unwrap()
}

fn flunder(name: &str) -> Value {
    json!({"apiVersion": format!("{GROUP}/v1alpha1"), "kind": "Flunder",
        "metadata": {"name": name, "namespace": "wardle", "resourceVersion": "7",
            "creationTimestamp": "2024-01-01T00:00:00Z"}})
}

/// What the backend answers. `front_proxy`: the caller presented a client certificate of the
/// front-proxy CA with CN `front-proxy-client`, so its `X-Remote-*` headers are believed.
fn answer(req: &hyper::Request<Incoming>, front_proxy: bool) -> hyper::Response<RespBody> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["apis", g, v] if *g == GROUP => json_resp(
            200,
            &json!({"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": format!("{GROUP}/{v}"), "resources": [
                {"name": "flunders", "singularName": "flunder", "namespaced": true,
                 "kind": "Flunder", "verbs": ["get", "list", "watch"], "shortNames": ["fl"]}]}),
        ),
        // No aggregated discovery here: upstream then reads the legacy resource list.
        ["apis"] => json_resp(
            406,
            &json!({"kind": "Status", "apiVersion": "v1",
            "status": "Failure", "code": 406, "reason": "NotAcceptable"}),
        ),
        ["apis", g, _, "whoami"] if *g == GROUP => {
            let h = req.headers();
            let all = |name: &str| -> Vec<String> {
                h.get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok().map(str::to_string))
                    .collect()
            };
            if !front_proxy {
                return json_resp(
                    401,
                    &json!({"kind": "Status", "apiVersion": "v1",
                    "status": "Failure", "message": "no front-proxy certificate", "code": 401,
                    "reason": "Unauthorized"}),
                );
            }
            json_resp(
                200,
                &json!({"user": all("x-remote-user"), "groups": all("x-remote-group"),
                    "authorization": all("authorization"), "impersonate": all("impersonate-user"),
                    "forwardedFor": all("x-forwarded-for")}),
            )
        }
        ["apis", g, _, "namespaces", "wardle", "flunders"] if *g == GROUP => {
            if !query.contains("watch=true") {
                return json_resp(
                    200,
                    &json!({"apiVersion": format!("{GROUP}/v1alpha1"), "kind": "FlunderList",
                        "metadata": {"resourceVersion": "7"},
                        "items": [flunder("one"), flunder("two")]}),
                );
            }
            // Two events 1.5 s apart: a proxy that buffers holds the first one back.
            let events = futures::stream::unfold(0, |i| async move {
                let name = match i {
                    0 => "one",
                    1 => {
                        tokio::time::sleep(Duration::from_millis(1500)).await;
                        "two"
                    }
                    _ => return None,
                };
                let line = format!("{}\n", json!({"type": "ADDED", "object": flunder(name)}));
                Some((Ok::<_, Infallible>(Frame::data(Bytes::from(line))), i + 1))
            });
            hyper::Response::builder()
                .header("content-type", "application/json")
                .body(StreamBody::new(events).boxed())
                .unwrap()
        }
        ["apis", g, _, "namespaces", "wardle", "flunders", name] if *g == GROUP => json_resp(
            404,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": format!("flunders.{GROUP} \"{name}\" not found"),
                "reason": "NotFound", "details": {"name": name, "group": GROUP, "kind": "flunders"},
                "code": 404}),
        ),
        _ => hyper::Response::builder()
            .status(404)
            .header("content-type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(b"404 page not found\n")).boxed())
            .unwrap(),
    }
}

async fn start_backend(front_proxy_ca_pem: &str) -> Backend {
    let ca = common::pki::Ca::generate("wardle-ca", common::pki::Validity::Unlimited).unwrap();
    let leaf = ca
        .issue(&common::pki::LeafSpec::server("api").with_names([
            "api.wardle.svc",
            "api-ep.wardle.svc",
            "127.0.0.1",
            "localhost",
        ]))
        .unwrap();
    let chain = common::tls::certs_from_pem(leaf.cert_pem.as_bytes()).unwrap();
    let key = common::tls::private_key_from_pem(leaf.key_pem.as_bytes()).unwrap();
    let proxy_ca = common::tls::certs_from_pem(front_proxy_ca_pem.as_bytes()).unwrap();
    let roots = common::tls::root_store(&proxy_ca).unwrap();
    let config = common::tls::server_config(
        chain,
        key,
        common::tls::ClientAuth::Optional(roots),
        &[b"http/1.1"],
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
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
                let front_proxy = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| common::tls::cert_subject(c).ok())
                    .and_then(|s| s.common_name)
                    .is_some_and(|cn| cn == "front-proxy-client");
                let svc = hyper::service::service_fn(move |req| async move {
                    Ok::<_, Infallible>(answer(&req, front_proxy))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Backend {
        port,
        ca_bundle: base64::engine::general_purpose::STANDARD.encode(ca.cert_pem()),
        stop,
    }
}

fn manifests(port: u16, ca: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata: {{name: api, namespace: wardle}}
spec: {{type: ExternalName, externalName: localhost}}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {{name: v1alpha1.{GROUP}}}
spec:
  group: {GROUP}
  version: v1alpha1
  groupPriorityMinimum: 2000
  versionPriority: 200
  caBundle: "{ca}"
  service: {{namespace: wardle, name: api, port: {port}}}
"#
    )
}

fn condition(k: &Kubectl, name: &str) -> String {
    k.ok(&[
        "get",
        "apiservice",
        name,
        "-o",
        "jsonpath={.status.conditions[0].status} {.status.conditions[0].reason}: {.status.conditions[0].message}",
    ])
}

fn wait_condition(k: &Kubectl, name: &str, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let c = condition(k, name);
        if c.starts_with(prefix) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: still {c:?}, wanted {prefix}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// JSON outputs with their keys sorted (Go and serde order keys differently); others as given.
fn normalized(out: (bool, String, String), port: u16) -> (bool, String, String) {
    fn sort(v: &mut Value) {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                for (k, mut v) in entries {
                    sort(&mut v);
                    m.insert(k, v);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(sort),
            _ => {}
        }
    }
    let (ok, mut stdout, stderr) = out;
    if let Ok(mut v) = serde_json::from_str::<Value>(&stdout) {
        sort(&mut v);
        stdout = v.to_string();
    }
    let p = |s: String| s.replace(&format!(":{port}"), ":PORT");
    (ok, p(stdout), p(stderr))
}

/// The scenario over an admin kubeconfig; `stop` shuts the backend down midway.
fn scenario(admin_yaml: &str, port: u16, ca: &str, stop: &dyn Fn()) -> Vec<Step> {
    let k = Kubectl::new(admin_yaml);
    let mut s = Vec::new();
    let name = format!("v1alpha1.{GROUP}");
    let rec = |s: &mut Vec<Step>, label: &str, out| record(s, label, normalized(out, port));
    k.ok(&["create", "namespace", "wardle"]);
    k.ok_stdin(&["apply", "-f", "-"], &manifests(port, ca));
    let available = wait_condition(&k, &name, "True");
    s.push(("available".into(), available));
    let raw = |p: &str| k.run(&["get", "--raw", p]);
    rec(&mut s, "group discovery", raw(&format!("/apis/{GROUP}")));
    rec(
        &mut s,
        "proxied resource list",
        raw(&format!("/apis/{GROUP}/v1alpha1")),
    );
    // Aggregated discovery catches up with the backend's discovery on its own schedule.
    let deadline = Instant::now() + Duration::from_secs(90);
    let resources = loop {
        let out = k.run(&["api-resources", "--api-group", GROUP]);
        if out.1.contains("flunders") || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    rec(&mut s, "api-resources", resources);
    rec(
        &mut s,
        "get flunders",
        k.run(&["-n", "wardle", "get", "flunders", "-o", "name"]),
    );
    rec(
        &mut s,
        "get by short name",
        k.run(&["-n", "wardle", "get", "fl", "-o", "name"]),
    );
    rec(
        &mut s,
        "the backend's 404",
        k.run(&["-n", "wardle", "get", "flunder", "missing"]),
    );
    rec(
        &mut s,
        "identity through the front proxy",
        k.run(&[
            "get",
            "--raw",
            &format!("/apis/{GROUP}/v1alpha1/whoami"),
            "--as",
            "alice",
            "--as-group",
            "system:masters",
        ]),
    );
    rec(
        &mut s,
        "watch",
        raw(&format!(
            "/apis/{GROUP}/v1alpha1/namespaces/wardle/flunders?watch=true"
        )),
    );
    rec(
        &mut s,
        "unknown version of the group",
        raw(&format!("/apis/{GROUP}/v2/namespaces/wardle/flunders")),
    );
    stop();
    // A change to the service makes the availability controller check again.
    k.ok(&["-n", "wardle", "annotate", "service", "api", "recheck=1"]);
    let down = wait_condition(&k, &name, "False");
    s.push((
        "unavailable".into(),
        down.replace(&format!(":{port}"), ":PORT"),
    ));
    rec(
        &mut s,
        "proxied request to an unavailable APIService",
        raw(&format!(
            "/apis/{GROUP}/v1alpha1/namespaces/wardle/flunders"
        )),
    );
    rec(
        &mut s,
        "kubectl get on an unavailable APIService",
        k.run(&["-n", "wardle", "get", "flunders", "-o", "name"]),
    );
    rec(
        &mut s,
        "table of the APIService",
        k.run(&[
            "get",
            "apiservice",
            &name,
            "--no-headers",
            "-o",
            "custom-columns=S:.spec.service.name,A:.status.conditions[0].reason",
        ]),
    );
    s
}

fn front_proxy_ca(admin_yaml: &str) -> String {
    let k = Kubectl::new(admin_yaml);
    let cm: Value = serde_json::from_str(&k.ok(&[
        "-n",
        "kube-system",
        "get",
        "configmap",
        "extension-apiserver-authentication",
        "-o",
        "json",
    ]))
    .unwrap();
    cm["data"]["requestheader-client-ca-file"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs the scenario against the cluster of `admin_yaml` with a backend of its own.
async fn run(admin_yaml: String) -> Vec<Step> {
    let yaml = admin_yaml.clone();
    let ca_pem = tokio::task::spawn_blocking(move || front_proxy_ca(&yaml))
        .await
        .unwrap();
    let backend = start_backend(&ca_pem).await;
    let (port, ca, stop) = (
        backend.port,
        backend.ca_bundle.clone(),
        backend.stop.clone(),
    );
    let steps =
        tokio::task::spawn_blocking(move || scenario(&admin_yaml, port, &ca, &|| stop.cancel()))
            .await
            .unwrap();
    drop(backend);
    steps
}

/// Embedded only: an APIService whose ClusterIP service has endpoints (reached through them),
/// and a watch streamed through the proxy without buffering.
async fn endpoints_and_streaming(srv: &apiserver::ServerHandle) {
    // Endpoints may not be loopback addresses: the machine's own address (no packet is sent).
    let own_ip = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.255.255.255:1").map(|_| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    let Some(own_ip) = own_ip else {
        say("SKIP endpoints-backed APIService: this machine has no non-loopback address");
        return;
    };
    let ca_pem = {
        let yaml = srv.kubeconfig_yaml().to_string();
        tokio::task::spawn_blocking(move || front_proxy_ca(&yaml))
            .await
            .unwrap()
    };
    let backend = start_backend(&ca_pem).await;
    let yaml = srv.kubeconfig_yaml().to_string();
    let (port, ca) = (backend.port, backend.ca_bundle.clone());
    tokio::task::spawn_blocking(move || {
        let k = Kubectl::new(&yaml);
        k.ok_stdin(
            &["apply", "-f", "-"],
            &format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: api-ep, namespace: wardle}}\nspec: {{ports: [{{name: https, port: 443}}]}}\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {{name: api-ep, namespace: wardle}}\nsubsets: [{{addresses: [{{ip: {own_ip}}}], ports: [{{name: https, port: {port}}}]}}]\n---\napiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {{name: v1beta1.{GROUP}}}\nspec: {{group: {GROUP}, version: v1beta1, groupPriorityMinimum: 2000, versionPriority: 100, caBundle: \"{ca}\", service: {{namespace: wardle, name: api-ep}}}}\n"
            ),
        );
        let c = wait_condition(&k, &format!("v1beta1.{GROUP}"), "True");
        assert_eq!(c, "True Passed: all checks passed");
        let out = k.ok(&[
            "get",
            "--raw",
            &format!("/apis/{GROUP}/v1beta1/namespaces/wardle/flunders"),
        ]);
        assert!(out.contains("FlunderList"), "{out}");
    })
    .await
    .unwrap();
    let client = srv.client();
    let req = http::Request::get(format!(
        "/apis/{GROUP}/v1beta1/namespaces/wardle/flunders?watch=true"
    ))
    .body(Vec::new())
    .unwrap();
    let start = Instant::now();
    let mut lines = client.request_stream(req).await.unwrap();
    use futures::AsyncBufReadExt;
    let mut first = String::new();
    lines.read_line(&mut first).await.unwrap();
    let first_at = start.elapsed();
    let mut second = String::new();
    lines.read_line(&mut second).await.unwrap();
    let second_at = start.elapsed();
    say(&format!(
        "aggregated watch: first event after {first_at:?}, second after {second_at:?}"
    ));
    assert!(first.contains("\"one\"") && second.contains("\"two\""));
    assert!(
        first_at < Duration::from_millis(1000) && second_at >= Duration::from_millis(1400),
        "the watch was buffered: {first_at:?} / {second_at:?}"
    );
    drop(backend);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_api_scenario_matches_upstream() {
    let test = "aggregated_api_scenario_matches_upstream";
    common::process::install_crypto_provider();
    let srv = apiserver::ServerBuilder::new().start().await.unwrap();
    let embedded = run(srv.kubeconfig_yaml().to_string()).await;
    for (label, out) in &embedded {
        say(&format!("{label}: {out}"));
    }
    let get = |label: &str| step(&embedded, label);
    assert_eq!(get("available"), "True Passed: all checks passed");
    assert!(get("proxied resource list").contains("\"shortNames\":[\"fl\"]"));
    assert!(
        get("api-resources").contains("flunders"),
        "{}",
        get("api-resources")
    );
    assert_eq!(
        get("get flunders"),
        format!("ok=true\nflunder.{GROUP}/one\nflunder.{GROUP}/two")
    );
    assert!(get("identity through the front proxy").contains(
        r#""groups":["system:masters","system:authenticated"],"impersonate":[],"user":["alice"]"#
    ));
    assert!(get("watch").contains("\"two\""));
    assert!(get("unavailable").starts_with("False FailedDiscoveryCheck: failing or missing response from https://localhost:PORT/apis/wardle.example.com/v1alpha1"));
    endpoints_and_streaming(&srv).await;
    let Some(up) = crate::upstream::start_for_parity(test, "aggregator-parity").await else {
        return;
    };
    let real = run(up.admin_kubeconfig()).await;
    compare(&embedded, &real);
    say(&format!("PASS {test}: {} steps equal", real.len()));
}
