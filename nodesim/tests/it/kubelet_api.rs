//! The kubelet API of the simulated nodes, spoken to directly (as the API server's kubelet
//! proxy and vn-agent do): WebSocket through kube-rs, SPDY/3.1 through the crate's client.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, Volume, VolumeMount};
use kube::api::{AttachParams, LogParams, ObjectMeta, PostParams};
use kube::core::kubelet_debug::KubeletDebugParams;
use kube::{Api, Client};
use nodesim::spdy::client::{ClientConn, ClientError, upgrade};
use nodesim::spdy::frame::Headers;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

async fn kubelet_client(env: &Env, cert: &str, key: &str) -> Client {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://{}\n    certificate-authority-data: {}\ncontexts:\n- name: k\n  context:\n    cluster: k\n    user: u\ncurrent-context: k\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        env.sim.kubelet_addr(),
        b64(env.sim.kubelet_ca_pem()),
        b64(cert),
        b64(key)
    );
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn tls(env: &Env, identity: Option<(&str, &str)>) -> std::io::Result<Tls> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(env.sim.kubelet_ca_pem().as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let cfg = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(|c| c.unwrap())
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(env.sim.kubelet_addr()).await?;
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await?;
    // TLS 1.3 reports a rejected client certificate only on the first read.
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: k\r\n\r\n")
        .await?;
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).await?;
    if n == 0 {
        return Err(std::io::Error::other("closed"));
    }
    Ok(stream)
}

async fn raw_request(env: &Env, id: (&str, &str), method: &str, path: &str) -> (u16, String) {
    let mut s = tls(env, Some(id)).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: k\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp).await;
    let text = String::from_utf8_lossy(&resp).to_string();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

async fn setup() -> (Env, String, String) {
    let env = start_with(vec![pool("n", 1, "4")], |c| {
        c.mock.log_interval = std::time::Duration::from_millis(50);
    })
    .await;
    namespace(&env.client, "k").await;
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("settings".into()),
            ..Default::default()
        },
        data: Some([("app.conf".to_string(), "color=blue\n".to_string())].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(env.client.clone(), "k")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let mut p = pod("web", None);
    let spec = p.spec.as_mut().unwrap();
    spec.volumes = Some(vec![Volume {
        name: "cfg".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: "settings".into(),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    spec.containers[0].volume_mounts = Some(vec![VolumeMount {
        name: "cfg".into(),
        mount_path: "/etc/app".into(),
        ..Default::default()
    }]);
    create(&env.client, "k", p).await;
    running(&env.client, "k", "web").await;
    let (cert, key) = env
        .srv
        .issue_client_cert("kube-apiserver-kubelet-client", &["system:masters"])
        .unwrap();
    (env, cert, key)
}

fn params() -> KubeletDebugParams<'static> {
    KubeletDebugParams {
        name: "web",
        namespace: "k",
        pod_uid: None,
    }
}

#[tokio::test]
async fn websocket_exec_attach_logs_and_port_forward_with_kube_rs() {
    let (env, cert, key) = setup().await;
    let kc = kubelet_client(&env, &cert, &key).await;

    let ap = AttachParams::default().stderr(false);
    let mut proc = kc
        .kubelet_node_exec(
            &params(),
            "app",
            vec!["sh", "-c", "echo hi; hostname; cat /etc/app/app.conf"],
            &ap,
        )
        .await
        .unwrap();
    let mut out = String::new();
    proc.stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let status = proc.take_status().unwrap().await.unwrap();
    assert_eq!(out, "hi\nweb\ncolor=blue\n");
    assert_eq!(status.status.as_deref(), Some("Success"));

    let mut proc = kc
        .kubelet_node_exec(&params(), "app", vec!["sh", "-c", "exit 3"], &ap)
        .await
        .unwrap();
    let status = proc.take_status().unwrap().await.unwrap();
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    assert_eq!(
        status.details.unwrap().causes.unwrap()[0]
            .message
            .as_deref(),
        Some("3")
    );

    // stdin through the v5 close signal.
    let ap_in = AttachParams::default().stdin(true).stderr(false);
    let mut proc = kc
        .kubelet_node_exec(&params(), "app", vec!["cat"], &ap_in)
        .await
        .unwrap();
    let mut stdin = proc.stdin().unwrap();
    stdin.write_all(b"round trip\n").await.unwrap();
    // kube-rs signals EOF (the v5 close signal) when its stdin pipe is shut down.
    stdin.shutdown().await.unwrap();
    let mut out = String::new();
    proc.stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert_eq!(out, "round trip\n");

    // attach: the main process echoes stdin.
    let mut att = kc
        .kubelet_node_attach(&params(), "app", &ap_in)
        .await
        .unwrap();
    att.stdin().unwrap().write_all(b"ping\n").await.unwrap();
    let mut stdout = att.stdout().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("ping\n") {
        let n = stdout.read(&mut buf).await.unwrap();
        assert!(n > 0);
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    att.abort();

    let lp = LogParams {
        tail_lines: Some(2),
        ..Default::default()
    };
    let mut logs = kc.kubelet_node_logs(&params(), "app", &lp).await.unwrap();
    let mut text = String::new();
    futures::AsyncReadExt::read_to_string(&mut logs, &mut text)
        .await
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("nodesim k/web container app instance 0: line "));

    let mut pf = kc
        .kubelet_node_portforward(&params(), &[8080])
        .await
        .unwrap();
    let mut s = pf.take_stream(8080).unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&resp).ends_with("GET /ws\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&resp));
        resp.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&resp).starts_with("HTTP/1.1 200 OK"));
}

fn h(pairs: &[(&str, &str)]) -> Headers {
    let mut h = Headers::default();
    for (k, v) in pairs {
        h.push(k, v);
    }
    h
}

#[tokio::test]
async fn spdy_exec_and_port_forward() {
    let (env, cert, key) = setup().await;
    let id = (cert.as_str(), key.as_str());

    let mut io = fresh(&env, id).await;
    let proto = upgrade(
        &mut io,
        "POST",
        "127.0.0.1",
        "/exec/k/web/app?command=sh&command=-c&command=echo%20out%3B%20cat%20%2Fnope&stdout=1&stderr=1",
        &["v4.channel.k8s.io", "v3.channel.k8s.io"],
    )
    .await
    .unwrap();
    assert_eq!(proto, "v4.channel.k8s.io");
    let mut c = ClientConn::new(io);
    let mut error = c.open(h(&[("streamType", "error")]), false).await.unwrap();
    let mut stdout = c.open(h(&[("streamType", "stdout")]), false).await.unwrap();
    let mut stderr = c.open(h(&[("streamType", "stderr")]), false).await.unwrap();
    assert_eq!(stdout.read_to_end().await, b"out\n");
    assert_eq!(
        String::from_utf8(stderr.read_to_end().await).unwrap(),
        "cat: /nope: No such file or directory\n"
    );
    let status: serde_json::Value = serde_json::from_slice(&error.read_to_end().await).unwrap();
    assert_eq!(status["details"]["causes"][0]["message"], "1");

    let mut io = fresh(&env, id).await;
    upgrade(
        &mut io,
        "POST",
        "127.0.0.1",
        "/portForward/k/web",
        &["portforward.k8s.io"],
    )
    .await
    .unwrap();
    let mut c = ClientConn::new(io);
    let hdr =
        |kind: &str, port: &str| h(&[("streamType", kind), ("port", port), ("requestID", "0")]);
    let mut err = c.open(hdr("error", "8080"), false).await.unwrap();
    let mut data = c.open(hdr("data", "8080"), false).await.unwrap();
    data.send(Bytes::from_static(
        b"GET /spdy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ))
    .await
    .unwrap();
    let body = String::from_utf8(data.read_to_end().await).unwrap();
    assert!(
        body.ends_with("nodesim k/web port 8080: GET /spdy\n"),
        "{body}"
    );
    assert!(err.read_to_end().await.is_empty());
    // A port no container declares: the error stream says so, as the kubelet's does.
    let hdr = |kind: &str| h(&[("streamType", kind), ("port", "9"), ("requestID", "1")]);
    let mut err = c.open(hdr("error"), false).await.unwrap();
    let _data = c.open(hdr("data"), false).await.unwrap();
    let msg = String::from_utf8(err.read_to_end().await).unwrap();
    assert!(
        msg.starts_with("error forwarding port 9 to pod web, uid "),
        "{msg}"
    );

    let mut io = fresh(&env, id).await;
    let refused = upgrade(
        &mut io,
        "POST",
        "127.0.0.1",
        "/exec/k/web/app?command=true&stdout=1",
        &["v9.channel.k8s.io"],
    )
    .await;
    match refused {
        Err(ClientError::Refused { status, body }) => {
            assert_eq!(status, 403);
            assert!(body.contains("unable to negotiate protocol"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn fresh(env: &Env, id: (&str, &str)) -> Tls {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(env.sim.kubelet_ca_pem().as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            CertificateDer::pem_slice_iter(id.0.as_bytes())
                .map(|c| c.unwrap())
                .collect(),
            PrivateKeyDer::from_pem_slice(id.1.as_bytes()).unwrap(),
        )
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(env.sim.kubelet_addr())
        .await
        .unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap()
}

#[tokio::test]
async fn plain_endpoints_errors_and_mtls() {
    let (env, cert, key) = setup().await;
    let id = (cert.as_str(), key.as_str());
    assert_eq!(
        raw_request(&env, id, "GET", "/healthz").await,
        (200, "ok".into())
    );
    let (code, body) = raw_request(&env, id, "POST", "/run/k/web/app?cmd=echo+hello").await;
    assert_eq!((code, body.as_str()), (200, "hello\n"));
    let (code, body) = raw_request(&env, id, "GET", "/pods").await;
    assert_eq!(code, 200);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["items"][0]["metadata"]["name"], "web");
    let (code, _) = raw_request(&env, id, "GET", "/containerLogs/k/nope/app").await;
    assert_eq!(code, 404);
    let (code, body) = raw_request(&env, id, "GET", "/containerLogs/k/web/other").await;
    assert_eq!(code, 404);
    assert!(body.contains("not found in pod"));
    let (code, _) = raw_request(&env, id, "GET", "/containerLogs/k/web/app?tailLines=-1").await;
    assert_eq!(code, 422);
    let (code, body) = raw_request(&env, id, "GET", "/containerLogs/k/web/app?previous=true").await;
    assert_eq!(code, 400);
    assert!(body.contains("previous terminated container"));
    let (code, body) = raw_request(&env, id, "GET", "/exec/k/web/app?command=true").await;
    assert_eq!(code, 400);
    assert!(body.contains("at least 1 of stdin, stdout, stderr"));
    let (code, _) = raw_request(&env, id, "GET", "/stats/summary").await;
    assert_eq!(code, 404);

    // No client certificate, or one from another CA: refused.
    assert!(tls(&env, None).await.is_err());
    let other = common::pki::self_signed(&common::pki::LeafSpec::client("intruder")).unwrap();
    let (c, k) = (other.cert_pem, other.key_pem);
    assert!(tls(&env, Some((&c, &k))).await.is_err());
}
