//! Protocol tests with in-memory transports: the crate's SPDY client and a tungstenite client.

use std::sync::Arc;

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::protocol::flavor;
use super::*;
use crate::spdy::client::ClientConn;
use crate::spdy::conn::Connection;
use crate::spdy::frame::Headers;

/// A session like `sh -c 'cat; exit 3'` with stderr noise.
fn cat_then_exit(code: i32) -> ExecSession {
    Box::new(move |mut io: ExecIo| {
        async move {
            let mut input = Vec::new();
            if let Some(stdin) = io.stdin.as_mut() {
                stdin.read_to_end(&mut input).await.unwrap();
            }
            if let Some(out) = io.stdout.as_mut() {
                out.write_all(&input).await.unwrap();
            }
            if let Some(err) = io.stderr.as_mut() {
                err.write_all(b"warn\n").await.unwrap();
            }
            ExecOutcome::Exited(code)
        }
        .boxed()
    })
}

fn h(kind: &str) -> Headers {
    let mut h = Headers::default();
    h.push("streamType", kind);
    h
}

#[tokio::test]
async fn spdy_exec_v4_streams_and_status() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let opts = StreamOptions {
        stdin: true,
        stdout: true,
        stderr: true,
        tty: false,
    };
    tokio::spawn(exec_spdy::serve(
        Connection::serve(a),
        flavor("v4.channel.k8s.io"),
        opts,
        cat_then_exit(3),
    ));
    let mut c = ClientConn::new(b);
    let mut error = c.open(h("error"), false).await.unwrap();
    let stdin = c.open(h("stdin"), false).await.unwrap();
    let mut stdout = c.open(h("stdout"), false).await.unwrap();
    let mut stderr = c.open(h("stderr"), false).await.unwrap();
    stdin.send(Bytes::from_static(b"hello")).await.unwrap();
    stdin.finish().await.unwrap();
    assert_eq!(stdout.read_to_end().await, b"hello");
    assert_eq!(stderr.read_to_end().await, b"warn\n");
    let status: serde_json::Value = serde_json::from_slice(&error.read_to_end().await).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
}

#[tokio::test]
async fn spdy_exec_v2_reports_success_as_nothing() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let opts = StreamOptions {
        stdout: true,
        ..Default::default()
    };
    tokio::spawn(exec_spdy::serve(
        Connection::serve(a),
        flavor("v2.channel.k8s.io"),
        opts,
        cat_then_exit(0),
    ));
    let mut c = ClientConn::new(b);
    let mut error = c.open(h("error"), false).await.unwrap();
    let mut stdout = c.open(h("stdout"), false).await.unwrap();
    assert!(stdout.read_to_end().await.is_empty());
    assert!(error.read_to_end().await.is_empty());
}

#[tokio::test]
async fn spdy_exec_tty_gets_resize_events() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let opts = StreamOptions {
        stdout: true,
        tty: true,
        stderr: true,
        ..Default::default()
    };
    let session: ExecSession = Box::new(|mut io: ExecIo| {
        async move {
            assert!(io.stderr.is_none(), "a TTY merges stderr");
            let size = io.resize.as_mut().unwrap().recv().await.unwrap();
            let line = format!("{}x{}", size.width, size.height);
            io.stdout
                .as_mut()
                .unwrap()
                .write_all(line.as_bytes())
                .await
                .unwrap();
            ExecOutcome::Exited(0)
        }
        .boxed()
    });
    tokio::spawn(exec_spdy::serve(
        Connection::serve(a),
        flavor("v4.channel.k8s.io"),
        opts,
        session,
    ));
    let mut c = ClientConn::new(b);
    let _error = c.open(h("error"), false).await.unwrap();
    let mut stdout = c.open(h("stdout"), false).await.unwrap();
    let resize = c.open(h("resize"), false).await.unwrap();
    resize
        .send(Bytes::from_static(br#"{"Width":120,"Height":40}"#))
        .await
        .unwrap();
    assert_eq!(stdout.read_to_end().await, b"120x40");
}

async fn ws_pair(
    protocol: &str,
) -> (
    tokio_tungstenite::WebSocketStream<tokio::io::DuplexStream>,
    tokio_tungstenite::WebSocketStream<tokio::io::DuplexStream>,
) {
    let _ = protocol;
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = tokio_tungstenite::WebSocketStream::from_raw_socket(a, Role::Server, None).await;
    let client = tokio_tungstenite::WebSocketStream::from_raw_socket(b, Role::Client, None).await;
    (server, client)
}

#[tokio::test]
async fn ws_v5_exec_with_close_signal() {
    let (server, mut client) = ws_pair("v5.channel.k8s.io").await;
    let opts = StreamOptions {
        stdin: true,
        stdout: true,
        stderr: true,
        tty: false,
    };
    tokio::spawn(exec_ws::serve(
        server,
        flavor("v5.channel.k8s.io"),
        opts,
        cat_then_exit(0),
    ));
    client
        .send(Message::binary(b"\x00abc".to_vec()))
        .await
        .unwrap();
    client.send(Message::binary(vec![255, 0])).await.unwrap();
    let mut got = Vec::new();
    while let Some(Ok(msg)) = client.next().await {
        match msg {
            Message::Binary(b) => got.push((b[0], b[1..].to_vec())),
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert_eq!(got[0], (1, vec![]), "empty hello on stdout first");
    assert!(got.contains(&(1, b"abc".to_vec())));
    assert!(got.contains(&(2, b"warn\n".to_vec())));
    let (ch, status) = got.last().unwrap();
    assert_eq!(*ch, 3);
    let status: serde_json::Value = serde_json::from_slice(status).unwrap();
    assert_eq!(status["status"], "Success");
}

#[tokio::test]
async fn ws_base64_exec() {
    let (server, mut client) = ws_pair("base64.channel.k8s.io").await;
    let opts = StreamOptions {
        stdout: true,
        ..Default::default()
    };
    let session: ExecSession = Box::new(|mut io: ExecIo| {
        async move {
            io.stdout.as_mut().unwrap().write_all(b"hi").await.unwrap();
            ExecOutcome::Exited(2)
        }
        .boxed()
    });
    tokio::spawn(exec_ws::serve(
        server,
        flavor("base64.channel.k8s.io"),
        opts,
        session,
    ));
    let mut texts = Vec::new();
    while let Some(Ok(msg)) = client.next().await {
        match msg {
            Message::Text(t) => texts.push(t.to_string()),
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert_eq!(texts[0], "1");
    assert_eq!(texts[1], "1aGk=");
    assert!(
        texts[2].starts_with('3'),
        "legacy protocols report failures as text"
    );
}

fn echo_forwarder() -> PortForwarder {
    Arc::new(|port: u16, mut io: tokio::io::DuplexStream| {
        async move {
            if port == 1 {
                return Err("port 1 is closed".to_string());
            }
            let mut buf = vec![0u8; 1024];
            loop {
                let n = io.read(&mut buf).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Ok(());
                }
                let reply = format!("{port}:{}", String::from_utf8_lossy(&buf[..n]));
                io.write_all(reply.as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        .boxed()
    })
}

#[tokio::test]
async fn spdy_portforward_pairs_by_request_id() {
    let (a, b) = tokio::io::duplex(1 << 16);
    tokio::spawn(portforward::serve_spdy(
        Connection::serve(a),
        echo_forwarder(),
    ));
    let mut c = ClientConn::new(b);
    let stream = |kind: &str, port: &str, req: &str| {
        let mut h = Headers::default();
        h.push("streamType", kind);
        h.push("port", port);
        h.push("requestID", req);
        h
    };
    let mut err0 = c.open(stream("error", "8080", "0"), false).await.unwrap();
    let mut data0 = c.open(stream("data", "8080", "0"), false).await.unwrap();
    data0.send(Bytes::from_static(b"ping")).await.unwrap();
    data0.finish().await.unwrap();
    assert_eq!(data0.read_to_end().await, b"8080:ping");
    assert!(err0.read_to_end().await.is_empty());
    let mut err1 = c.open(stream("error", "1", "1"), false).await.unwrap();
    let mut data1 = c.open(stream("data", "1", "1"), false).await.unwrap();
    data1.finish().await.unwrap();
    assert_eq!(err1.read_to_end().await, b"port 1 is closed");
    assert!(data1.read_to_end().await.is_empty());
}

#[tokio::test]
async fn ws_portforward_prefixes_ports() {
    let (server, mut client) = ws_pair("v4.channel.k8s.io").await;
    tokio::spawn(portforward::serve_ws(
        server,
        flavor("v4.channel.k8s.io"),
        vec![80, 1],
        echo_forwarder(),
    ));
    let mut got = Vec::new();
    for _ in 0..4 {
        match client.next().await.unwrap().unwrap() {
            Message::Binary(b) => got.push(b.to_vec()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        got,
        vec![vec![0, 80, 0], vec![1, 80, 0], vec![2, 1, 0], vec![3, 1, 0]]
    );
    client
        .send(Message::binary(b"\x00hey".to_vec()))
        .await
        .unwrap();
    let mut replies = Vec::new();
    while replies.len() < 2 {
        if let Message::Binary(b) = client.next().await.unwrap().unwrap() {
            replies.push(b.to_vec());
        }
    }
    assert!(replies.contains(&b"\x0080:hey".to_vec()));
    assert!(replies.contains(&b"\x03port 1 is closed".to_vec()));
}

#[tokio::test]
async fn spdy_tunnelled_over_websocket() {
    let (server, client) = ws_pair("SPDY/3.1+portforward.k8s.io").await;
    tokio::spawn(portforward::serve_ws_tunnel(server, echo_forwarder()));
    let bytes = ws_bytes::tunnel(client);
    let mut c = ClientConn::new(bytes);
    let mut h = Headers::default();
    h.push("streamType", "error");
    h.push("port", "9");
    h.push("requestID", "0");
    let _err = c.open(h.clone(), false).await.unwrap();
    let mut hd = Headers::default();
    hd.push("streamType", "data");
    hd.push("port", "9");
    hd.push("requestID", "0");
    let mut data = c.open(hd, false).await.unwrap();
    data.send(Bytes::from_static(b"x")).await.unwrap();
    data.finish().await.unwrap();
    assert_eq!(data.read_to_end().await, b"9:x");
}
