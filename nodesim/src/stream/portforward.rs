//! Port-forward: over SPDY (`portforward.k8s.io`: a data and an error stream per connection,
//! paired by `requestID`, the target in the `port` header), over WebSocket (two channels per
//! port from the `ports` query, each starting with the port number), and kubectl 1.31+'s
//! SPDY-over-WebSocket tunnel (`SPDY/3.1+portforward.k8s.io`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::PortForwarder;
use super::exec_ws::{decode, encode};
use super::protocol::Flavor;
use crate::spdy::conn::{Connection, SpdyStream};
use crate::spdy::frame::rst;

/// How long the second stream of a pair may take to arrive (the kubelet's default).
pub const PAIR_TIMEOUT: Duration = Duration::from_secs(30);
const PIPE: usize = 64 * 1024;

#[derive(Default)]
struct Pair {
    data: Option<SpdyStream>,
    error: Option<SpdyStream>,
    since: Option<Instant>,
}

/// The pairing key of a stream: its `requestID`, or for clients that send none the id of the
/// error stream (data streams follow their error stream, two ids later).
fn request_id(stream: &SpdyStream, kind: &str) -> String {
    match stream.headers().get("requestid") {
        Some(id) => id.to_string(),
        None if kind == "data" => stream.id().saturating_sub(2).to_string(),
        None => stream.id().to_string(),
    }
}

/// Serves port-forward on a SPDY session until the client ends it.
pub async fn serve_spdy(mut conn: Connection, forward: PortForwarder) {
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let stream = tokio::select! {
            s = conn.accept() => s,
            _ = tick.tick() => {
                expire(&mut pairs).await;
                continue;
            }
        };
        let Some(mut stream) = stream else { break };
        let kind = stream.headers().get("streamtype").unwrap_or("").to_string();
        if kind != "data" && kind != "error" {
            stream.reset(rst::PROTOCOL_ERROR).await;
            continue;
        }
        let id = request_id(&stream, &kind);
        let pair = pairs.entry(id.clone()).or_default();
        pair.since.get_or_insert_with(Instant::now);
        let slot = if kind == "data" {
            &mut pair.data
        } else {
            &mut pair.error
        };
        if slot.is_some() {
            stream.reset(rst::PROTOCOL_ERROR).await;
            continue;
        }
        *slot = Some(stream);
        if pair.data.is_some() && pair.error.is_some() {
            let Some(Pair {
                data: Some(data),
                error: Some(error),
                ..
            }) = pairs.remove(&id)
            else {
                continue;
            };
            tokio::spawn(forward_pair(data, error, forward.clone()));
        }
    }
    conn.close().await;
}

async fn expire(pairs: &mut HashMap<String, Pair>) {
    let stale: Vec<String> = pairs
        .iter()
        .filter(|(_, p)| p.since.is_some_and(|t| t.elapsed() > PAIR_TIMEOUT))
        .map(|(k, _)| k.clone())
        .collect();
    for key in stale {
        if let Some(pair) = pairs.remove(&key) {
            if let Some(mut e) = pair.error {
                let msg = format!("timed out waiting for the data stream of request {key}");
                let _ = e.send(Bytes::from(msg)).await;
                let _ = e.finish().await;
            }
            if let Some(mut d) = pair.data {
                d.reset(rst::CANCEL).await;
            }
        }
    }
}

async fn forward_pair(data: SpdyStream, mut error: SpdyStream, forward: PortForwarder) {
    let port = data
        .headers()
        .get("port")
        .or_else(|| error.headers().get("port"))
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0);
    let Some(port) = port else {
        let raw = data.headers().get("port").unwrap_or("").to_string();
        let msg = format!("invalid port {raw:?}: expected an integer between 1 and 65535");
        let _ = error.send(Bytes::from(msg)).await;
        let _ = error.finish().await;
        return;
    };
    let (local, remote) = tokio::io::duplex(PIPE);
    let (mut local_r, mut local_w) = tokio::io::split(local);
    let (mut recv, mut send) = data.split();
    let to_pod = tokio::spawn(async move {
        while let Some(chunk) = recv.recv().await {
            if local_w.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = local_w.shutdown().await;
        recv
    });
    let from_pod = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match local_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if send.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = send.finish().await;
    };
    let (_, result) = tokio::join!(from_pod, forward(port, remote));
    to_pod.abort();
    if let Err(msg) = result {
        let _ = error.send(Bytes::from(msg)).await;
    }
    let _ = error.finish().await;
}

/// Serves port-forward on a WebSocket for the ports of the `ports` query parameter.
pub async fn serve_ws<S>(
    ws: WebSocketStream<S>,
    flavor: Flavor,
    ports: Vec<u16>,
    forward: PortForwarder,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut source) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            if sink.send(msg).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut to_pod = Vec::with_capacity(ports.len());
    for (i, port) in ports.iter().copied().enumerate() {
        let data_ch = (2 * i) as u8;
        let prefix = port.to_le_bytes();
        let _ = out_tx.send(encode(flavor, data_ch, &prefix)).await;
        let _ = out_tx.send(encode(flavor, data_ch + 1, &prefix)).await;
        let (local, remote) = tokio::io::duplex(PIPE);
        let (mut local_r, local_w) = tokio::io::split(local);
        to_pod.push(Some(local_w));
        let out = out_tx.clone();
        let forward = forward.clone();
        tokio::spawn(async move {
            let pump = async {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match local_r.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if out.send(encode(flavor, data_ch, &buf[..n])).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            };
            let (_, result) = tokio::join!(pump, forward(port, remote));
            if let Err(msg) = result {
                let _ = out.send(encode(flavor, data_ch + 1, msg.as_bytes())).await;
            }
        });
    }
    while let Some(Ok(msg)) = source.next().await {
        if matches!(msg, Message::Close(_)) {
            break;
        }
        let Some((ch, data)) = decode(&msg) else {
            continue;
        };
        let index = usize::from(ch / 2);
        if ch % 2 != 0 {
            continue;
        }
        if let Some(slot) = to_pod.get_mut(index)
            && let Some(w) = slot.as_mut()
            && w.write_all(&data).await.is_err()
        {
            *slot = None;
        }
    }
    for w in to_pod.iter_mut().flatten() {
        let _ = w.shutdown().await;
    }
    drop(out_tx);
    let _ = writer.await;
}

/// Serves kubectl's SPDY-over-WebSocket port-forward tunnel.
pub async fn serve_ws_tunnel<S>(ws: WebSocketStream<S>, forward: PortForwarder)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    serve_spdy(Connection::serve(super::ws_bytes::tunnel(ws)), forward).await;
}
