//! The application's handle on one client-opened stream, whole or split into its halves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::spdy::frame::{FLAG_FIN, Frame, Headers};

use super::shared::{Out, Streams};

/// Largest DATA payload this server sends in one frame.
const MAX_DATA_CHUNK: usize = 32 * 1024;

/// Errors of a stream operation.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The peer reset the stream or the session ended.
    #[error("spdy stream {0} is closed")]
    Closed(u32),
}

impl From<StreamError> for std::io::Error {
    fn from(e: StreamError) -> Self {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, e)
    }
}

/// One client-opened stream.
pub struct SpdyStream {
    pub(super) id: u32,
    pub(super) headers: Headers,
    pub(super) data: mpsc::Receiver<Bytes>,
    pub(super) out: mpsc::Sender<Out>,
    pub(super) reset: Arc<AtomicBool>,
    pub(super) streams: Streams,
    pub(super) finished: bool,
}

impl std::fmt::Debug for SpdyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpdyStream")
            .field("id", &self.id)
            .field("headers", &self.headers)
            .finish()
    }
}

impl SpdyStream {
    /// Stream id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Headers of the SYN_STREAM.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Next chunk from the peer; `None` after its FIN, a reset or the end of the session.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.data.recv().await
    }

    /// Sends data, in frames of at most 32 KiB.
    pub async fn send(&self, mut data: Bytes) -> Result<(), StreamError> {
        while !data.is_empty() {
            let chunk = data.split_to(data.len().min(MAX_DATA_CHUNK));
            self.send_frame(0, chunk).await?;
        }
        Ok(())
    }

    /// Half-closes the local side (an empty DATA frame with FLAG_FIN). Idempotent.
    pub async fn finish(&mut self) -> Result<(), StreamError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.send_frame(FLAG_FIN, Bytes::new()).await
    }

    /// Aborts the stream with RST_STREAM.
    pub async fn reset(&mut self, status: u32) {
        self.finished = true;
        self.reset.store(true, Ordering::SeqCst);
        let _ = self
            .out
            .send(Out::Frame(Frame::RstStream {
                stream_id: self.id,
                status,
            }))
            .await;
    }

    /// Splits into a receiving and a sending half.
    pub fn split(self) -> (StreamRecv, StreamSend) {
        let send = StreamSend {
            id: self.id,
            out: self.out.clone(),
            reset: self.reset.clone(),
            finished: self.finished,
        };
        (StreamRecv { stream: self }, send)
    }

    async fn send_frame(&self, flags: u8, data: Bytes) -> Result<(), StreamError> {
        send_data(&self.out, &self.reset, self.id, flags, data).await
    }
}

impl Drop for SpdyStream {
    fn drop(&mut self) {
        if let Ok(mut map) = self.streams.lock() {
            map.remove(&self.id);
        }
    }
}

async fn send_data(
    out: &mpsc::Sender<Out>,
    reset: &AtomicBool,
    stream_id: u32,
    flags: u8,
    data: Bytes,
) -> Result<(), StreamError> {
    if reset.load(Ordering::SeqCst) {
        return Err(StreamError::Closed(stream_id));
    }
    out.send(Out::Frame(Frame::Data {
        stream_id,
        flags,
        data,
    }))
    .await
    .map_err(|_| StreamError::Closed(stream_id))
}

/// Receiving half of a split stream (keeps the stream registered while alive).
pub struct StreamRecv {
    stream: SpdyStream,
}

impl StreamRecv {
    /// Stream id.
    pub fn id(&self) -> u32 {
        self.stream.id
    }

    /// Next chunk; `None` at the peer's FIN or a reset.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.stream.data.recv().await
    }
}

/// Sending half of a split stream.
pub struct StreamSend {
    id: u32,
    out: mpsc::Sender<Out>,
    reset: Arc<AtomicBool>,
    finished: bool,
}

impl StreamSend {
    /// Sends data.
    pub async fn send(&self, mut data: Bytes) -> Result<(), StreamError> {
        while !data.is_empty() {
            let chunk = data.split_to(data.len().min(MAX_DATA_CHUNK));
            send_data(&self.out, &self.reset, self.id, 0, chunk).await?;
        }
        Ok(())
    }

    /// Half-closes the local side. Idempotent.
    pub async fn finish(&mut self) -> Result<(), StreamError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        send_data(&self.out, &self.reset, self.id, FLAG_FIN, Bytes::new()).await
    }
}
