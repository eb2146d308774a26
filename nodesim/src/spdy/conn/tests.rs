//! Session behaviour against the test client and against raw frames.

use super::flow::SendFlow;
use super::*;
use crate::spdy::client::ClientConn;
use crate::spdy::frame::{FLAG_FIN, Headers, rst};
use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

fn headers(pairs: &[(&str, &str)]) -> Headers {
    let mut h = Headers::default();
    for (n, v) in pairs {
        h.push(n, v);
    }
    h
}

#[tokio::test]
async fn streams_echo_and_finish() {
    let (a, b) = tokio::io::duplex(1 << 20);
    let mut server = Connection::serve(a);
    let mut client = ClientConn::new(b);
    tokio::spawn(async move {
        while let Some(mut s) = server.accept().await {
            tokio::spawn(async move {
                assert_eq!(s.headers().get("streamType"), Some("stdin"));
                while let Some(chunk) = s.recv().await {
                    s.send(chunk).await.unwrap();
                }
                s.finish().await.unwrap();
            });
        }
    });
    let mut st = client
        .open(headers(&[("streamType", "stdin")]), false)
        .await
        .unwrap();
    assert_eq!(st.id(), 1);
    st.send(Bytes::from_static(b"hello ")).await.unwrap();
    st.send(Bytes::from_static(b"world")).await.unwrap();
    st.finish().await.unwrap();
    assert_eq!(st.read_to_end().await, b"hello world");
    client.ping().await.unwrap();
    // A second stream on the same session shares the compression context.
    let mut st2 = client
        .open(headers(&[("streamType", "stdin")]), false)
        .await
        .unwrap();
    assert_eq!(st2.id(), 3);
    st2.finish().await.unwrap();
    assert!(st2.read_to_end().await.is_empty());
}

/// Drives the server with raw frames and returns everything it answers.
struct Raw {
    io: tokio::io::DuplexStream,
    enc: FrameCodec,
    dec: FrameCodec,
    buf: BytesMut,
}

impl Raw {
    async fn send(&mut self, f: Frame) {
        use tokio::io::AsyncWriteExt;
        let mut out = BytesMut::new();
        self.enc.encode(f, &mut out).unwrap();
        self.io.write_all(&out).await.unwrap();
    }

    async fn next(&mut self) -> Option<Frame> {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(f) = self.dec.decode(&mut self.buf).unwrap() {
                return Some(f);
            }
            let mut chunk = [0u8; 4096];
            let n =
                tokio::time::timeout(std::time::Duration::from_secs(5), self.io.read(&mut chunk))
                    .await
                    .expect("server answered")
                    .unwrap();
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn raw() -> (Connection, Raw) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (
        Connection::serve(a),
        Raw {
            io: b,
            enc: FrameCodec::new(),
            dec: FrameCodec::new(),
            buf: BytesMut::new(),
        },
    )
}

fn syn(id: u32, flags: u8) -> Frame {
    Frame::SynStream {
        stream_id: id,
        associated_to: 0,
        priority: 0,
        slot: 0,
        flags,
        headers: headers(&[("streamtype", "data")]),
    }
}

#[tokio::test]
async fn replies_echoes_pings_and_rejects_bad_ids() {
    let (mut server, mut peer) = raw();
    peer.send(syn(1, 0)).await;
    assert!(matches!(
        peer.next().await,
        Some(Frame::SynReply { stream_id: 1, .. })
    ));
    let _stream = server.accept().await.unwrap();
    // Client pings (odd) are echoed; even ids belong to the server and are not.
    peer.send(Frame::Ping { id: 2 }).await;
    peer.send(Frame::Ping { id: 7 }).await;
    assert_eq!(peer.next().await, Some(Frame::Ping { id: 7 }));
    // Data for a stream never opened.
    peer.send(Frame::Data {
        stream_id: 9,
        flags: 0,
        data: Bytes::from_static(b"x"),
    })
    .await;
    assert_eq!(
        peer.next().await,
        Some(Frame::RstStream {
            stream_id: 9,
            status: rst::INVALID_STREAM
        })
    );
    // A stream id that does not increase is a session error.
    peer.send(syn(1, 0)).await;
    assert_eq!(
        peer.next().await,
        Some(Frame::GoAway {
            last_good_stream_id: 1,
            status: goaway::PROTOCOL_ERROR
        })
    );
    assert_eq!(peer.next().await, None);
}

#[tokio::test]
async fn data_after_fin_is_already_closed() {
    let (mut server, mut peer) = raw();
    peer.send(syn(1, FLAG_FIN)).await;
    assert!(matches!(peer.next().await, Some(Frame::SynReply { .. })));
    let mut s = server.accept().await.unwrap();
    assert!(s.recv().await.is_none());
    peer.send(Frame::Data {
        stream_id: 1,
        flags: 0,
        data: Bytes::from_static(b"late"),
    })
    .await;
    assert_eq!(
        peer.next().await,
        Some(Frame::RstStream {
            stream_id: 1,
            status: rst::STREAM_ALREADY_CLOSED
        })
    );
}

#[tokio::test]
async fn receive_credit_is_returned() {
    let (mut server, mut peer) = raw();
    peer.send(syn(1, 0)).await;
    assert!(matches!(peer.next().await, Some(Frame::SynReply { .. })));
    let mut s = server.accept().await.unwrap();
    tokio::spawn(async move { while s.recv().await.is_some() {} });
    for _ in 0..4 {
        peer.send(Frame::Data {
            stream_id: 1,
            flags: 0,
            data: Bytes::from(vec![0u8; 16 * 1024]),
        })
        .await;
    }
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(peer.next().await.unwrap());
    }
    assert!(seen.contains(&Frame::WindowUpdate {
        stream_id: 0,
        delta: 32 * 1024
    }));
    assert!(seen.contains(&Frame::WindowUpdate {
        stream_id: 1,
        delta: 32 * 1024
    }));
}

#[tokio::test]
async fn peers_without_flow_control_are_not_blocked() {
    // spdystream never sends WINDOW_UPDATE: 200 KiB must still flow.
    let (mut server, mut peer) = raw();
    peer.send(syn(1, 0)).await;
    assert!(matches!(peer.next().await, Some(Frame::SynReply { .. })));
    let mut s = server.accept().await.unwrap();
    tokio::spawn(async move {
        s.send(Bytes::from(vec![7u8; 200 * 1024])).await.unwrap();
        s.finish().await.unwrap();
    });
    let mut total = 0;
    loop {
        match peer.next().await.unwrap() {
            Frame::Data { data, flags, .. } => {
                total += data.len();
                if flags & FLAG_FIN != 0 {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(total, 200 * 1024);
}

#[test]
fn flow_control_waits_for_credit_once_the_peer_uses_it() {
    let mut flow = SendFlow::default();
    assert!(flow.initial_window(10).is_empty());
    let ready = flow.admit(Frame::Data {
        stream_id: 1,
        flags: FLAG_FIN,
        data: Bytes::from_static(b"0123456789abcdef"),
    });
    assert_eq!(
        ready,
        vec![Frame::Data {
            stream_id: 1,
            flags: 0,
            data: Bytes::from_static(b"0123456789")
        }]
    );
    // Stream credit alone is not enough while the session window has room: 6 more bytes fit.
    let ready = flow.credit(1, 100);
    assert_eq!(
        ready,
        vec![Frame::Data {
            stream_id: 1,
            flags: FLAG_FIN,
            data: Bytes::from_static(b"abcdef")
        }]
    );
    // The session window (64 KiB - 16) now limits a large frame on another stream.
    let ready = flow.admit(Frame::Data {
        stream_id: 3,
        flags: 0,
        data: Bytes::from(vec![0u8; 70_000]),
    });
    let sent: usize = ready
        .iter()
        .map(|f| match f {
            Frame::Data { data, .. } => data.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(sent, 10, "stream 3 starts with the initial window of 10");
    let ready = flow.credit(3, 1_000_000);
    let sent: usize = ready
        .iter()
        .map(|f| match f {
            Frame::Data { data, .. } => data.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(sent as i64, DEFAULT_WINDOW - 16 - 10);
    let ready = flow.credit(0, 1_000_000);
    assert_eq!(ready.len(), 1);
}
