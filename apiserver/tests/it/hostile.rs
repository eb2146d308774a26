//! Hostile clients and hostile input: the server cannot be stalled by deeply nested bodies, oversized headers and
//! bodies, silent connections and floods beyond the in-flight limits are answered (or cut off)
//! as upstream does, while a normal client keeps being served.

use std::sync::Arc;
use std::time::{Duration, Instant};

use apiserver::ServerHandle;
use apiserver::limits::Limits;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{raw, server};

/// A TLS connection to the server, as admin when `admin`, speaking `alpn`.
async fn tls(
    srv: &ServerHandle,
    alpn: &[u8],
    admin: bool,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let roots =
        common::tls::root_store(&common::tls::certs_from_pem(srv.ca_pem().as_bytes()).unwrap())
            .unwrap();
    let cert = if admin {
        let (c, k) = srv.issue_client_cert("admin", &["system:masters"]).unwrap();
        Some((
            common::tls::certs_from_pem(c.as_bytes()).unwrap(),
            common::tls::private_key_from_pem(k.as_bytes()).unwrap(),
        ))
    } else {
        None
    };
    let config =
        common::tls::client_config(common::tls::ServerVerification::Roots(roots), cert, &[alpn])
            .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(srv.addr()).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

/// How long a normal GET takes.
async fn normal_get(client: &kube::Client) -> Duration {
    let t0 = Instant::now();
    Api::<Namespace>::all(client.clone())
        .get("default")
        .await
        .unwrap();
    t0.elapsed()
}

/// The median of `samples`.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// GETs from `client` every few milliseconds until `done`, returning their latencies.
async fn sample_while(
    client: kube::Client,
    done: tokio::sync::watch::Receiver<bool>,
) -> Vec<Duration> {
    let mut samples = Vec::new();
    while !*done.borrow() || samples.len() < 5 {
        samples.push(normal_get(&client).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_bodies_are_refused_without_stalling_others() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    normal_get(&srv.client()).await;

    let depth = 100_000;
    let deep = format!("{{\"data\":{}{}}}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(sample_while(srv.client(), rx));
    let path = "/api/v1/namespaces/default/configmaps/x";
    let mut hostile = Vec::new();
    for (method, path, media) in [
        (
            http::Method::PATCH,
            path.to_string(),
            "application/strategic-merge-patch+json",
        ),
        (
            http::Method::PATCH,
            format!("{path}?fieldManager=m"),
            "application/apply-patch+yaml",
        ),
        (
            http::Method::PATCH,
            path.to_string(),
            "application/merge-patch+json",
        ),
        (
            http::Method::POST,
            "/api/v1/namespaces/default/configmaps".to_string(),
            "application/yaml",
        ),
    ] {
        let (client, body) = (raw(&srv), deep.clone());
        hostile.push(tokio::spawn(async move {
            client.send(method, &path, media, body).await
        }));
    }
    for h in hostile {
        let (code, status) = h.await.unwrap();
        assert_eq!(code, 400, "{status}");
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "BadRequest");
        assert!(
            status["message"]
                .as_str()
                .unwrap_or_default()
                .contains("exceeded max depth"),
            "{status}"
        );
    }
    tx.send(true).unwrap();
    let samples = sampler.await.unwrap();
    let typical = median(samples.clone());
    assert!(
        typical < Duration::from_millis(100),
        "normal GETs took {samples:?} while hostile bodies were sent"
    );
}

/// The status line of an HTTP/1.1 answer to `request`.
async fn http1_status(srv: &ServerHandle, request: &[u8]) -> String {
    let mut conn = tls(srv, b"http/1.1", true).await;
    // The server may answer (and close) before the whole request is written.
    let _ = conn.write_all(request).await;
    let mut head = vec![0u8; 64];
    let n = conn.read(&mut head).await.unwrap_or(0);
    String::from_utf8_lossy(&head[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431_and_oversized_bodies_413_over_both_protocols() {
    let srv = server().await;
    let mut request = b"GET /api HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 1 << 20));
    request.extend_from_slice(b"\r\n\r\n");
    let status = http1_status(&srv, &request).await;
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");

    // 10 MB over HTTP/2: a 413 Status, not a reset stream.
    let body = serde_json::to_vec(&json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "big"}, "data": {"a": "a".repeat(10_000_000)}
    }))
    .unwrap();
    let conn = tls(&srv, b"h2", true).await;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(conn))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = http::Request::post(format!(
        "{}/api/v1/namespaces/default/configmaps",
        srv.url()
    ))
    .header("content-type", "application/json")
    .body(http_body_util::Full::new(bytes::Bytes::from(body)))
    .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 413);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let status: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status["reason"], "RequestEntityTooLarge");
    assert!(normal_get(&srv.client()).await < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_capped_and_closed_after_the_header_timeout() {
    common::process::install_crypto_provider();
    let srv = apiserver::ServerBuilder::new()
        .limits(Limits {
            header_read_timeout: Duration::from_millis(700),
            max_unauthenticated_connections: 8,
            ..Limits::default()
        })
        .start()
        .await
        .unwrap();
    // A client that already talks keeps its connection.
    let client = srv.client();
    normal_get(&client).await;

    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(tls(&srv, b"http/1.1", false).await);
    }
    // Over the cap: closed before the TLS handshake can even start.
    let mut extra = TcpStream::connect(srv.addr()).await.unwrap();
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut byte))
        .await
        .expect("an over-the-cap connection is closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(normal_get(&client).await < Duration::from_millis(100));

    // Silent connections end after the header timeout, which frees the cap.
    for conn in &mut silent {
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut byte))
            .await
            .expect("a silent connection is closed after the header timeout")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
    drop(silent);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut fresh = tls(&srv, b"http/1.1", true).await;
    fresh
        .write_all(b"GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    fresh.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_max_in_flight_get_429() {
    common::process::install_crypto_provider();
    let srv = apiserver::ServerBuilder::new()
        .limits(Limits {
            max_requests_inflight: 1,
            max_mutating_requests_inflight: 1,
            ..Limits::default()
        })
        .start()
        .await
        .unwrap();
    // A create whose body is still arriving holds the one mutating slot.
    let body = br#"{"metadata":{"name":"slow"}}"#;
    let mut slow = tls(&srv, b"http/1.1", true).await;
    let head = format!(
        "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body[..10]).await.unwrap();

    let mut other = tls(&srv, b"http/1.1", true).await;
    let mut refused = None;
    for i in 0..100 {
        let body = format!(r#"{{"metadata":{{"name":"fast-{i}"}}}}"#);
        let request = format!(
            "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        other.write_all(request.as_bytes()).await.unwrap();
        let (code, answer) = read_http1_response(&mut other).await;
        if code == 429 {
            refused = Some(answer);
            break;
        }
        // The slow create has not reached the server yet.
        assert_eq!(code, 201);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status: Value =
        serde_json::from_slice(&refused.expect("a second create is refused")).unwrap();
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(
        status["message"],
        "Too many requests, please try again later."
    );
    assert_eq!(status["details"]["retryAfterSeconds"], 1);
    // Reads have their own pool, and watches are long-running and never limited.
    assert!(normal_get(&srv.client()).await < Duration::from_secs(1));
    let (code, _) = raw(&srv)
        .send(
            http::Method::GET,
            "/api/v1/configmaps?watch=true&timeoutSeconds=1",
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(code, 200);
    // Once the slow create finishes, its slot is free again.
    slow.write_all(&body[10..]).await.unwrap();
    assert_eq!(read_http1_response(&mut slow).await.0, 201);
    let request = b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 28\r\n\r\n{\"metadata\":{\"name\":\"last\"}}";
    other.write_all(request).await.unwrap();
    assert_eq!(read_http1_response(&mut other).await.0, 201);
}

/// Reads one HTTP/1.1 response with a `Content-Length` or chunked body: (status, body).
async fn read_http1_response(
    conn: &mut tokio_rustls::client::TlsStream<TcpStream>,
) -> (u16, Vec<u8>) {
    let mut reader = tokio::io::BufReader::new(conn);
    let mut line = String::new();
    use tokio::io::AsyncBufReadExt;
    reader.read_line(&mut line).await.unwrap();
    let code: u16 = line.split(' ').nth(1).unwrap_or_default().parse().unwrap();
    let (mut length, mut chunked) = (0usize, false);
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        let header = line.trim_end().to_ascii_lowercase();
        if header.is_empty() {
            break;
        }
        if let Some(v) = header.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        if header == "transfer-encoding: chunked" {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if !chunked {
        body.resize(length, 0);
        reader.read_exact(&mut body).await.unwrap();
        return (code, body);
    }
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        let size = usize::from_str_radix(line.trim(), 16).unwrap();
        let mut chunk = vec![0u8; size + 2];
        reader.read_exact(&mut chunk).await.unwrap();
        if size == 0 {
            return (code, body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_field_selectors_are_refused_as_upstream_words_it() {
    let srv = server().await;
    let k = crate::harness::Kubectl::new(&srv);
    let run = tokio::task::spawn_blocking(move || {
        let (ok, _, err) = k.run(&["get", "pods", "--field-selector=spec.nodeName==="]);
        assert!(!ok);
        assert!(
            err.contains("invalid field selector: unescaped character in value: 61"),
            "{err}"
        );
        let (ok, _, err) = k.run(&["get", "pods", "--field-selector=nonsense"]);
        assert!(!ok);
        assert!(
            err.contains("invalid selector: 'nonsense'; can't understand 'nonsense'"),
            "{err}"
        );
    });
    run.await.unwrap();
    let (code, status) = raw(&srv)
        .send(
            http::Method::POST,
            "/api/v1/namespaces/%00/configmaps",
            "application/json",
            br#"{"metadata":{"name":"z"}}"#.to_vec(),
        )
        .await;
    assert_eq!(code, 404);
    assert_eq!(status["message"], "namespaces \"\\x00\" not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmasked_proc_needs_a_user_namespace() {
    let srv = server().await;
    let k = crate::harness::Kubectl::new(&srv);
    tokio::task::spawn_blocking(move || {
        let pod = |host_users: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: proc{}\nspec:\n{host_users}  containers:\n  - name: app\n    image: nginx\n    securityContext:\n      procMount: Unmasked\n",
                host_users.len()
            )
        };
        let (ok, _, err) = k.run_stdin(&["create", "-f", "-"], Some(&pod("")));
        assert!(!ok);
        assert!(
            err.contains(
                "spec.containers[0].securityContext.procMount: Invalid value: \"Unmasked\": `hostUsers` must be false to use `Unmasked`"
            ),
            "{err}"
        );
        k.ok_stdin(
            &["create", "-f", "-"],
            &pod("  hostUsers: false\n"),
        );
    })
    .await
    .unwrap();
}
