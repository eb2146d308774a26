//! A small SPDY/3.1 client with the Kubernetes upgrade handshake, as client-go performs it.
//! Used by the tests of this crate and by other crates' tests that need to speak SPDY to a
//! kubelet (vn-agent, the API server's kubelet proxy).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::frame::{FLAG_FIN, Frame, FrameCodec, Headers};

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Transport failure.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The server did not switch protocols.
    #[error("upgrade refused: {status} {body}")]
    Refused {
        /// HTTP status code.
        status: u16,
        /// Response body (the kubelet's error text).
        body: String,
    },
    /// A malformed HTTP response.
    #[error("bad upgrade response: {0}")]
    BadResponse(String),
    /// The session ended.
    #[error("spdy session closed")]
    Closed,
    /// The server reset the stream.
    #[error("stream reset with status {0}")]
    Reset(u32),
}

/// Performs the HTTP/1.1 `Upgrade: SPDY/3.1` handshake on `io` for `path` (with query) and
/// returns the negotiated `X-Stream-Protocol-Version` (empty if the server sent none).
pub async fn upgrade<IO>(
    io: &mut IO,
    method: &str,
    host: &str,
    path: &str,
    protocols: &[&str],
) -> Result<String, ClientError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
    );
    for p in protocols {
        req.push_str(&format!("X-Stream-Protocol-Version: {p}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    io.write_all(req.as_bytes()).await?;
    io.flush().await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if io.read(&mut byte).await? == 0 {
            return Err(ClientError::BadResponse("connection closed".into()));
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Err(ClientError::BadResponse("response head too large".into()));
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ClientError::BadResponse(text.clone()))?;
    let header = |name: &str| {
        text.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if status != 101 {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len.min(1 << 20)];
        io.read_exact(&mut body).await?;
        return Err(ClientError::Refused {
            status,
            body: String::from_utf8_lossy(&body).to_string(),
        });
    }
    Ok(header("x-stream-protocol-version").unwrap_or_default())
}

enum Event {
    Data(Bytes),
    Fin,
    Reset(u32),
}

#[derive(Default)]
struct Shared {
    streams: HashMap<u32, mpsc::UnboundedSender<Event>>,
    replies: HashMap<u32, oneshot::Sender<()>>,
    pings: HashMap<u32, oneshot::Sender<()>>,
    goaway: Option<u32>,
}

/// A client session.
pub struct ClientConn {
    out: mpsc::Sender<Frame>,
    next_id: u32,
    next_ping: u32,
    shared: Arc<Mutex<Shared>>,
}

/// A client-opened stream.
pub struct ClientStream {
    id: u32,
    out: mpsc::Sender<Frame>,
    rx: mpsc::UnboundedReceiver<Event>,
    /// Reset status, if the server reset the stream.
    pub reset: Option<u32>,
}

impl ClientConn {
    /// Starts a session on an upgraded transport.
    pub fn new<IO: AsyncRead + AsyncWrite + Send + 'static>(io: IO) -> Self {
        let (read, write) = tokio::io::split(io);
        let (out, mut out_rx) = mpsc::channel::<Frame>(64);
        let shared = Arc::new(Mutex::new(Shared::default()));
        tokio::spawn(async move {
            let mut sink = FramedWrite::new(write, FrameCodec::new());
            while let Some(f) = out_rx.recv().await {
                if sink.send(f).await.is_err() {
                    break;
                }
            }
        });
        let reader_shared = shared.clone();
        let echo = out.clone();
        tokio::spawn(async move {
            let mut frames = FramedRead::new(read, FrameCodec::new());
            while let Some(Ok(frame)) = frames.next().await {
                dispatch(&reader_shared, &echo, frame).await;
            }
            if let Ok(mut s) = reader_shared.lock() {
                s.streams.clear();
                s.replies.clear();
            }
        });
        Self {
            out,
            next_id: 1,
            next_ping: 1,
            shared,
        }
    }

    /// Opens a stream with headers and waits for the SYN_REPLY (as client-go does).
    pub async fn open(&mut self, headers: Headers, fin: bool) -> Result<ClientStream, ClientError> {
        let id = self.next_id;
        self.next_id += 2;
        let (tx, rx) = mpsc::unbounded_channel();
        let (reply_tx, reply_rx) = oneshot::channel();
        if let Ok(mut s) = self.shared.lock() {
            s.streams.insert(id, tx);
            s.replies.insert(id, reply_tx);
        }
        self.out
            .send(Frame::SynStream {
                stream_id: id,
                associated_to: 0,
                priority: 0,
                slot: 0,
                flags: if fin { FLAG_FIN } else { 0 },
                headers,
            })
            .await
            .map_err(|_| ClientError::Closed)?;
        reply_rx.await.map_err(|_| ClientError::Closed)?;
        Ok(ClientStream {
            id,
            out: self.out.clone(),
            rx,
            reset: None,
        })
    }

    /// Sends a PING and waits for its echo.
    pub async fn ping(&mut self) -> Result<(), ClientError> {
        let id = self.next_ping;
        self.next_ping += 2;
        let (tx, rx) = oneshot::channel();
        if let Ok(mut s) = self.shared.lock() {
            s.pings.insert(id, tx);
        }
        self.send_raw(Frame::Ping { id }).await?;
        rx.await.map_err(|_| ClientError::Closed)
    }

    /// Sends an arbitrary frame (for protocol tests).
    pub async fn send_raw(&self, frame: Frame) -> Result<(), ClientError> {
        self.out.send(frame).await.map_err(|_| ClientError::Closed)
    }

    /// The GOAWAY status received from the server, if any.
    pub fn goaway(&self) -> Option<u32> {
        self.shared.lock().ok().and_then(|s| s.goaway)
    }
}

async fn dispatch(shared: &Mutex<Shared>, echo: &mpsc::Sender<Frame>, frame: Frame) {
    let Ok(mut s) = shared.lock() else { return };
    match frame {
        Frame::SynReply { stream_id, .. } => {
            if let Some(tx) = s.replies.remove(&stream_id) {
                let _ = tx.send(());
            }
        }
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            if let Some(tx) = s.streams.get(&stream_id) {
                if !data.is_empty() {
                    let _ = tx.send(Event::Data(data));
                }
                if flags & FLAG_FIN != 0 {
                    let _ = tx.send(Event::Fin);
                }
            }
        }
        Frame::RstStream { stream_id, status } => {
            s.replies.remove(&stream_id);
            if let Some(tx) = s.streams.remove(&stream_id) {
                let _ = tx.send(Event::Reset(status));
            }
        }
        Frame::Ping { id } => {
            if id % 2 == 1 {
                if let Some(tx) = s.pings.remove(&id) {
                    let _ = tx.send(());
                }
            } else {
                drop(s);
                let _ = echo.send(Frame::Ping { id }).await;
            }
        }
        Frame::GoAway { status, .. } => s.goaway = Some(status),
        _ => {}
    }
}

impl ClientStream {
    /// Stream id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Sends data.
    pub async fn send(&self, data: impl Into<Bytes>) -> Result<(), ClientError> {
        self.out
            .send(Frame::Data {
                stream_id: self.id,
                flags: 0,
                data: data.into(),
            })
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Half-closes the client side.
    pub async fn finish(&self) -> Result<(), ClientError> {
        self.out
            .send(Frame::Data {
                stream_id: self.id,
                flags: FLAG_FIN,
                data: Bytes::new(),
            })
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Next chunk; `None` at the server's FIN, a reset (see [`ClientStream::reset`]) or the end
    /// of the session.
    pub async fn recv(&mut self) -> Option<Bytes> {
        match self.rx.recv().await? {
            Event::Data(d) => Some(d),
            Event::Fin => None,
            Event::Reset(status) => {
                self.reset = Some(status);
                None
            }
        }
    }

    /// Reads until FIN.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(chunk) = self.recv().await {
            all.extend_from_slice(&chunk);
        }
        all
    }
}
