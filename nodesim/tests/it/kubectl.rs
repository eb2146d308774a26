//! `kubectl logs/exec/port-forward` (the machine's kubectl) and kube-rs through the embedded
//! API server's kubelet proxy, reaching the mock provider.

use std::time::Duration;

use apiserver::ServerBuilder;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::AttachParams;
use nodesim::NodesimConfig;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

/// A CA for kubelet clients and the API server's client certificate signed by it.
fn kubelet_client_pki() -> (String, String, String) {
    use common::pki::{Ca, LeafSpec, Validity};
    let ca = Ca::generate("kubelet-client-ca", Validity::Unlimited).unwrap();
    let client = ca
        .issue(&LeafSpec::client("kube-apiserver-kubelet-client"))
        .unwrap();
    (ca.cert_pem().to_string(), client.cert_pem, client.key_pem)
}

struct Proxied {
    env: Env,
    _dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
}

async fn start_proxied() -> Proxied {
    common::process::install_crypto_provider();
    let (client_ca, cert, key) = kubelet_client_pki();
    let serving = nodesim::kubelet::tls::generate_serving(&["127.0.0.1".parse().unwrap()]).unwrap();
    let srv = ServerBuilder::new()
        .kubelet_client_cert(cert, key)
        .kubelet_certificate_authority(serving.ca_pem.clone())
        .start()
        .await
        .unwrap();
    let mut cfg = NodesimConfig::new(srv.kube_config(), 0, client_ca);
    cfg.pools = vec![pool("n", 1, "4")];
    cfg.kubelet.serving = Some((serving.cert_pem, serving.key_pem));
    cfg.mock.log_interval = Duration::from_millis(50);
    let sim = nodesim::start(cfg).await.unwrap();
    sim.wait_ready(Duration::from_secs(30)).await.unwrap();
    let client = srv.client();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, srv.kubeconfig_yaml()).unwrap();
    namespace(&client, "k").await;
    create(&client, "k", pod("web", None)).await;
    running(&client, "k", "web").await;
    Proxied {
        env: Env { srv, sim, client },
        _dir: dir,
        kubeconfig,
    }
}

async fn kubectl(p: &Proxied, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    kubectl_env(p, args, stdin, &[]).await
}

/// `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false` / `KUBECTL_PORT_FORWARD_WEBSOCKETS=false` make
/// kubectl speak SPDY/3.1 (client-go's spdystream), end to end through the proxy.
const SPDY_ONLY: &[(&str, &str)] = &[
    ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false"),
    ("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false"),
];

async fn kubectl_env(
    p: &Proxied,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.envs(env.iter().copied());
    cmd.arg("--kubeconfig")
        .arg(&p.kubeconfig)
        .args(args)
        .env("HOME", p._dir.path())
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("kubectl on PATH");
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        w.write_all(input.as_bytes()).await.unwrap();
        drop(w);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("kubectl finished")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn kubectl_logs_exec_and_port_forward_reach_the_provider() {
    let p = start_proxied().await;

    let (ok, out, err) = kubectl(&p, &["logs", "-n", "k", "web", "--tail=2"], None).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[1].starts_with("nodesim k/web container app instance 0: line "));

    // -f keeps streaming new lines as the container writes them.
    let mut follow = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&p.kubeconfig)
        .args(["logs", "-f", "-n", "k", "web", "--tail=1"])
        .env("HOME", p._dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut followed = tokio::io::BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut numbers = Vec::new();
    while numbers.len() < 4 {
        let line = tokio::time::timeout(Duration::from_secs(20), followed.next_line())
            .await
            .expect("followed line")
            .unwrap()
            .expect("stream stays open");
        numbers.push(line.rsplit(' ').next().unwrap().parse::<u64>().unwrap());
    }
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    let _ = follow.kill().await;

    let (ok, out, err) = kubectl(&p, &["exec", "-n", "k", "web", "--", "echo", "hi"], None).await;
    assert!(ok, "{err}");
    assert_eq!(out, "hi\n");

    let (ok, out, err) = kubectl(
        &p,
        &["exec", "-i", "-n", "k", "web", "--", "cat"],
        Some("piped\n"),
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "piped\n");

    let (ok, _, err) = kubectl(
        &p,
        &["exec", "-n", "k", "web", "--", "sh", "-c", "exit 3"],
        None,
    )
    .await;
    assert!(!ok);
    assert!(err.contains("command terminated with exit code 3"), "{err}");

    port_forward(&p, &[]).await;
}

#[tokio::test]
async fn kubectl_over_spdy_reaches_the_provider() {
    let p = start_proxied().await;
    // stdout and stderr arrive on their own streams; the exit code on the error stream.
    let (ok, out, err) = kubectl_env(
        &p,
        &[
            "exec",
            "-n",
            "k",
            "web",
            "--",
            "sh",
            "-c",
            "echo out; cat /nope",
        ],
        None,
        SPDY_ONLY,
    )
    .await;
    assert!(!ok);
    assert_eq!(out, "out\n");
    assert!(
        err.contains("cat: /nope: No such file or directory"),
        "{err}"
    );
    assert!(err.contains("command terminated with exit code 1"), "{err}");
    let (ok, out, err) = kubectl_env(
        &p,
        &[
            "exec",
            "-i",
            "-n",
            "k",
            "web",
            "--",
            "sh",
            "-c",
            "cat; hostname",
        ],
        Some("spdy stdin\n"),
        SPDY_ONLY,
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "spdy stdin\nweb\n");
    let (ok, _, err) = kubectl_env(
        &p,
        &["exec", "-n", "k", "web", "--", "false"],
        None,
        SPDY_ONLY,
    )
    .await;
    assert!(!ok);
    assert!(err.contains("command terminated with exit code 1"), "{err}");
    port_forward(&p, SPDY_ONLY).await;
}

/// Runs `kubectl port-forward` and sends two HTTP requests through it.
async fn port_forward(p: &Proxied, env: &[(&str, &str)]) {
    // port-forward: kubectl picks a local port and prints it.
    let mut child = tokio::process::Command::new("kubectl")
        .envs(env.iter().copied())
        .arg("--kubeconfig")
        .arg(&p.kubeconfig)
        .args(["port-forward", "-n", "k", "pod/web", ":8080"])
        .env("HOME", p._dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("port-forward started")
        .unwrap()
        .unwrap_or_default();
    // "Forwarding from 127.0.0.1:PORT -> 8080"
    let local = line
        .split_whitespace()
        .nth(2)
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("unexpected port-forward output {line:?}"));
    for path in ["/one", "/two"] {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", local))
            .await
            .unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        tokio::time::timeout(Duration::from_secs(20), tcp.read_to_string(&mut resp))
            .await
            .expect("response through port-forward")
            .unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
        assert!(
            resp.ends_with(&format!("nodesim k/web port 8080: GET {path}\n")),
            "{resp}"
        );
    }
    let _ = child.kill().await;
}

#[tokio::test]
async fn kube_rs_through_the_api_server() {
    let p = start_proxied().await;
    let pods: Api<Pod> = Api::namespaced(p.env.client.clone(), "k");
    let mut proc = pods
        .exec(
            "web",
            vec!["printenv", "HOSTNAME"],
            &AttachParams::default().stderr(false),
        )
        .await
        .unwrap();
    let mut out = String::new();
    proc.stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert_eq!(out, "web\n");
    let status = proc.take_status().unwrap().await.unwrap();
    assert_eq!(status.status.as_deref(), Some("Success"));

    let mut pf = pods.portforward("web", &[8080]).await.unwrap();
    let mut s = pf.take_stream(8080).unwrap();
    s.write_all(b"echo me").await.unwrap();
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"echo me");

    let logs = pods
        .logs(
            "web",
            &kube::api::LogParams {
                tail_lines: Some(1),
                timestamps: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        logs.contains("Z nodesim k/web container app instance 0: line "),
        "{logs}"
    );
}
