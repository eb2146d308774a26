//! The server side of a SPDY/3.1 session: accepts client streams, replies to them, echoes pings,
//! honours flow control, and hands each stream to the application as a [`SpdyStream`].
//!
//! Flow control: the receive side always credits the peer with WINDOW_UPDATEs (per stream and,
//! as SPDY/3.1 adds, for the session). The send side accounts every DATA frame against the
//! peer's windows but only *waits* for credit once the peer has shown that it implements flow
//! control (it sent a WINDOW_UPDATE or SETTINGS_INITIAL_WINDOW_SIZE). Go's `moby/spdystream`,
//! which every Kubernetes client uses, never sends either and ignores the windows entirely, so
//! blocking on them would stall every transfer after 64 KiB.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use super::frame::{FLAG_FIN, Frame, FrameCodec, FrameError, Headers, goaway, rst, settings};

/// Default initial window of SPDY/3 (64 KiB), for streams and the session.
pub const DEFAULT_WINDOW: i64 = 65_536;
/// Largest DATA payload this server sends in one frame.
const MAX_DATA_CHUNK: usize = 32 * 1024;
/// Receive credit is returned once this much has been consumed.
const CREDIT_THRESHOLD: i64 = DEFAULT_WINDOW / 2;
/// Buffered DATA frames per stream before the session reader waits (TCP back-pressure).
const STREAM_BUFFER: usize = 64;

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

/// Messages to the writer task.
enum Out {
    Frame(Frame),
    /// Peer credit (stream 0 = session).
    Credit {
        stream_id: u32,
        delta: i64,
    },
    /// Peer changed SETTINGS_INITIAL_WINDOW_SIZE.
    InitialWindow(i64),
    /// Flush, close the transport and stop.
    Close,
}

struct Entry {
    data: Option<mpsc::Sender<Bytes>>,
    reset: Arc<AtomicBool>,
    unacked: i64,
}

type Streams = Arc<Mutex<HashMap<u32, Entry>>>;

/// A running SPDY session. Dropping it does not end the session; call [`Connection::close`].
pub struct Connection {
    incoming: mpsc::Receiver<SpdyStream>,
    out: mpsc::Sender<Out>,
    last_peer_id: Arc<std::sync::atomic::AtomicU32>,
    going_away: Arc<AtomicBool>,
}

impl Connection {
    /// Starts serving a session on an upgraded transport.
    pub fn serve<IO>(io: IO) -> Self
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(io);
        let (out_tx, out_rx) = mpsc::channel(256);
        let (in_tx, in_rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let last_peer_id = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let going_away = Arc::new(AtomicBool::new(false));
        let streams: Streams = Arc::default();
        tokio::spawn(write_loop(
            FramedWrite::new(write, FrameCodec::new()),
            out_rx,
            cancel.clone(),
        ));
        let reader = Reader {
            out: out_tx.clone(),
            incoming: Some(in_tx),
            streams,
            last_peer_id: last_peer_id.clone(),
            going_away: going_away.clone(),
            session_unacked: 0,
        };
        tokio::spawn(reader.run(FramedRead::new(read, FrameCodec::new()), cancel));
        Self {
            incoming: in_rx,
            out: out_tx,
            last_peer_id,
            going_away,
        }
    }

    /// Next stream opened by the client; `None` once the session ended or the peer went away.
    pub async fn accept(&mut self) -> Option<SpdyStream> {
        self.incoming.recv().await
    }

    /// Ends the session as a kubelet does: GOAWAY naming the last stream processed, then close
    /// the transport once everything queued before it has been written.
    pub async fn close(&self) {
        self.going_away.store(true, Ordering::SeqCst);
        let last = self.last_peer_id.load(Ordering::SeqCst);
        let _ = self
            .out
            .send(Out::Frame(Frame::GoAway {
                last_good_stream_id: last,
                status: goaway::OK,
            }))
            .await;
        let _ = self.out.send(Out::Close).await;
    }
}

/// One client-opened stream.
pub struct SpdyStream {
    id: u32,
    headers: Headers,
    data: mpsc::Receiver<Bytes>,
    out: mpsc::Sender<Out>,
    reset: Arc<AtomicBool>,
    streams: Streams,
    finished: bool,
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

struct Reader {
    out: mpsc::Sender<Out>,
    incoming: Option<mpsc::Sender<SpdyStream>>,
    streams: Streams,
    last_peer_id: Arc<std::sync::atomic::AtomicU32>,
    going_away: Arc<AtomicBool>,
    session_unacked: i64,
}

impl Reader {
    async fn run<R: AsyncRead + Unpin>(
        mut self,
        mut frames: FramedRead<R, FrameCodec>,
        cancel: CancellationToken,
    ) {
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => break,
                next = frames.next() => next,
            };
            match next {
                Some(Ok(frame)) => {
                    if let Err(status) = self.handle(frame).await {
                        self.protocol_error(status).await;
                        break;
                    }
                }
                Some(Err(FrameError::Io(e))) => {
                    tracing::debug!(error = %e, "spdy transport closed");
                    break;
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "spdy protocol error");
                    self.protocol_error(goaway::PROTOCOL_ERROR).await;
                    break;
                }
                None => break,
            }
        }
        self.end_session();
    }

    async fn protocol_error(&self, status: u32) {
        let last = self.last_peer_id.load(Ordering::SeqCst);
        let _ = self
            .out
            .send(Out::Frame(Frame::GoAway {
                last_good_stream_id: last,
                status,
            }))
            .await;
        let _ = self.out.send(Out::Close).await;
    }

    fn end_session(&mut self) {
        self.incoming = None;
        if let Ok(mut map) = self.streams.lock() {
            for entry in map.values_mut() {
                entry.data = None;
                entry.reset.store(true, Ordering::SeqCst);
            }
        }
    }

    async fn send(&self, frame: Frame) {
        let _ = self.out.send(Out::Frame(frame)).await;
    }

    /// Handles one frame; `Err(status)` is a session error to answer with GOAWAY.
    async fn handle(&mut self, frame: Frame) -> Result<(), u32> {
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => self.open(stream_id, flags, headers).await,
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                self.data(stream_id, flags, data).await;
                Ok(())
            }
            Frame::RstStream { stream_id, .. } => {
                if let Ok(mut map) = self.streams.lock()
                    && let Some(entry) = map.remove(&stream_id)
                {
                    entry.reset.store(true, Ordering::SeqCst);
                }
                Ok(())
            }
            Frame::Ping { id } => {
                // Client pings have odd ids; even ids would be answers to our own pings.
                if id % 2 == 1 {
                    self.send(Frame::Ping { id }).await;
                }
                Ok(())
            }
            Frame::Settings { entries, .. } => {
                for e in entries {
                    if e.id == settings::INITIAL_WINDOW_SIZE {
                        let _ = self.out.send(Out::InitialWindow(i64::from(e.value))).await;
                    }
                }
                Ok(())
            }
            Frame::WindowUpdate { stream_id, delta } => {
                let _ = self
                    .out
                    .send(Out::Credit {
                        stream_id,
                        delta: i64::from(delta),
                    })
                    .await;
                Ok(())
            }
            Frame::GoAway { .. } => {
                // No new streams; the open ones finish normally.
                self.incoming = None;
                Ok(())
            }
            Frame::Headers { .. } | Frame::SynReply { .. } | Frame::Unknown { .. } => Ok(()),
        }
    }

    async fn open(&mut self, stream_id: u32, flags: u8, headers: Headers) -> Result<(), u32> {
        let last = self.last_peer_id.load(Ordering::SeqCst);
        if stream_id.is_multiple_of(2) || stream_id <= last {
            return Err(goaway::PROTOCOL_ERROR);
        }
        self.last_peer_id.store(stream_id, Ordering::SeqCst);
        let Some(incoming) = self.incoming.clone() else {
            self.send(Frame::RstStream {
                stream_id,
                status: rst::REFUSED_STREAM,
            })
            .await;
            return Ok(());
        };
        if self.going_away.load(Ordering::SeqCst) {
            self.send(Frame::RstStream {
                stream_id,
                status: rst::REFUSED_STREAM,
            })
            .await;
            return Ok(());
        }
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let reset = Arc::new(AtomicBool::new(false));
        if let Ok(mut map) = self.streams.lock() {
            map.insert(
                stream_id,
                Entry {
                    data: (flags & FLAG_FIN == 0).then_some(tx),
                    reset: reset.clone(),
                    unacked: 0,
                },
            );
        }
        // The reply goes out before anything the application writes on the stream.
        self.send(Frame::SynReply {
            stream_id,
            flags: 0,
            headers: Headers::default(),
        })
        .await;
        let stream = SpdyStream {
            id: stream_id,
            headers,
            data: rx,
            out: self.out.clone(),
            reset,
            streams: self.streams.clone(),
            finished: false,
        };
        if incoming.send(stream).await.is_err() {
            self.send(Frame::RstStream {
                stream_id,
                status: rst::REFUSED_STREAM,
            })
            .await;
        }
        Ok(())
    }

    async fn data(&mut self, stream_id: u32, flags: u8, data: Bytes) {
        let len = data.len() as i64;
        let lookup = self.streams.lock().ok().and_then(|map| {
            map.get(&stream_id)
                .map(|e| (e.data.clone(), e.reset.load(Ordering::SeqCst)))
        });
        match lookup {
            None => {
                let status = if stream_id <= self.last_peer_id.load(Ordering::SeqCst) {
                    rst::STREAM_ALREADY_CLOSED
                } else {
                    rst::INVALID_STREAM
                };
                self.send(Frame::RstStream { stream_id, status }).await;
            }
            Some((None, _)) => {
                self.send(Frame::RstStream {
                    stream_id,
                    status: rst::STREAM_ALREADY_CLOSED,
                })
                .await;
            }
            Some((Some(tx), _)) => {
                if !data.is_empty() && tx.send(data).await.is_ok() {
                    self.credit(stream_id, len).await;
                }
                if flags & FLAG_FIN != 0
                    && let Ok(mut map) = self.streams.lock()
                    && let Some(entry) = map.get_mut(&stream_id)
                {
                    entry.data = None;
                }
            }
        }
    }

    /// Returns receive credit to the peer in batches.
    async fn credit(&mut self, stream_id: u32, len: i64) {
        self.session_unacked += len;
        if self.session_unacked >= CREDIT_THRESHOLD {
            let delta = self.session_unacked as u32;
            self.session_unacked = 0;
            self.send(Frame::WindowUpdate {
                stream_id: 0,
                delta,
            })
            .await;
        }
        let due = self.streams.lock().ok().and_then(|mut map| {
            let entry = map.get_mut(&stream_id)?;
            entry.unacked += len;
            (entry.unacked >= CREDIT_THRESHOLD).then(|| std::mem::take(&mut entry.unacked))
        });
        if let Some(delta) = due {
            self.send(Frame::WindowUpdate {
                stream_id,
                delta: delta as u32,
            })
            .await;
        }
    }
}

/// Send-side flow control state (pure; driven by the writer task).
#[derive(Debug)]
pub(crate) struct SendFlow {
    enforce: bool,
    initial: i64,
    session: i64,
    streams: HashMap<u32, i64>,
    pending: HashMap<u32, VecDeque<Frame>>,
    order: VecDeque<u32>,
}

impl Default for SendFlow {
    fn default() -> Self {
        Self {
            enforce: false,
            initial: DEFAULT_WINDOW,
            session: DEFAULT_WINDOW,
            streams: HashMap::new(),
            pending: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl SendFlow {
    /// Frames ready to write now for a frame the application queued.
    pub(crate) fn admit(&mut self, frame: Frame) -> Vec<Frame> {
        match frame {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                if self.pending.get(&stream_id).is_some_and(|q| !q.is_empty()) {
                    self.enqueue(
                        stream_id,
                        Frame::Data {
                            stream_id,
                            flags,
                            data,
                        },
                    );
                    return Vec::new();
                }
                let mut ready = Vec::new();
                self.try_send(stream_id, flags, data, &mut ready);
                ready
            }
            Frame::RstStream { stream_id, .. } => {
                self.pending.remove(&stream_id);
                self.streams.remove(&stream_id);
                vec![frame]
            }
            other => vec![other],
        }
    }

    /// Applies peer credit and returns frames that can now be written.
    pub(crate) fn credit(&mut self, stream_id: u32, delta: i64) -> Vec<Frame> {
        self.enforce = true;
        if stream_id == 0 {
            self.session += delta;
        } else {
            *self.streams.entry(stream_id).or_insert(self.initial) += delta;
        }
        self.drain()
    }

    /// Applies a new initial window (adjusting every open stream by the difference).
    pub(crate) fn initial_window(&mut self, size: i64) -> Vec<Frame> {
        self.enforce = true;
        let diff = size - self.initial;
        self.initial = size;
        for w in self.streams.values_mut() {
            *w += diff;
        }
        self.drain()
    }

    fn window(&self, stream_id: u32) -> i64 {
        self.streams
            .get(&stream_id)
            .copied()
            .unwrap_or(self.initial)
            .min(self.session)
    }

    fn debit(&mut self, stream_id: u32, len: i64) {
        self.session -= len;
        *self.streams.entry(stream_id).or_insert(self.initial) -= len;
    }

    fn enqueue(&mut self, stream_id: u32, frame: Frame) {
        let queue = self.pending.entry(stream_id).or_default();
        if queue.is_empty() {
            self.order.push_back(stream_id);
        }
        queue.push_back(frame);
    }

    /// Emits what the windows allow and returns the remainder that has to wait.
    fn emit(
        &mut self,
        stream_id: u32,
        flags: u8,
        mut data: Bytes,
        ready: &mut Vec<Frame>,
    ) -> Option<Frame> {
        let len = data.len() as i64;
        if !self.enforce || len <= self.window(stream_id) {
            self.debit(stream_id, len);
            if flags & FLAG_FIN != 0 {
                self.streams.remove(&stream_id);
            }
            ready.push(Frame::Data {
                stream_id,
                flags,
                data,
            });
            return None;
        }
        let fits = usize::try_from(self.window(stream_id).max(0)).unwrap_or(0);
        if fits > 0 {
            let head = data.split_to(fits);
            self.debit(stream_id, fits as i64);
            ready.push(Frame::Data {
                stream_id,
                flags: 0,
                data: head,
            });
        }
        Some(Frame::Data {
            stream_id,
            flags,
            data,
        })
    }

    fn try_send(&mut self, stream_id: u32, flags: u8, data: Bytes, ready: &mut Vec<Frame>) {
        if let Some(rest) = self.emit(stream_id, flags, data, ready) {
            self.enqueue(stream_id, rest);
        }
    }

    fn drain(&mut self) -> Vec<Frame> {
        let mut ready = Vec::new();
        for _ in 0..self.order.len() {
            let Some(stream_id) = self.order.pop_front() else {
                break;
            };
            let Some(mut queue) = self.pending.remove(&stream_id) else {
                continue;
            };
            while let Some(frame) = queue.pop_front() {
                match frame {
                    Frame::Data { flags, data, .. } => {
                        if let Some(rest) = self.emit(stream_id, flags, data, &mut ready) {
                            queue.push_front(rest);
                            break;
                        }
                    }
                    other => ready.push(other),
                }
            }
            if !queue.is_empty() {
                self.pending.insert(stream_id, queue);
                self.order.push_back(stream_id);
            }
        }
        ready
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut sink: FramedWrite<W, FrameCodec>,
    mut rx: mpsc::Receiver<Out>,
    cancel: CancellationToken,
) {
    let mut flow = SendFlow::default();
    while let Some(msg) = rx.recv().await {
        let ready = match msg {
            Out::Frame(frame) => flow.admit(frame),
            Out::Credit { stream_id, delta } => flow.credit(stream_id, delta),
            Out::InitialWindow(size) => flow.initial_window(size),
            Out::Close => break,
        };
        for frame in ready {
            if let Err(e) = sink.feed(frame).await {
                tracing::debug!(error = %e, "spdy write failed");
                cancel.cancel();
                return;
            }
        }
        // Write out everything queued together, then flush once.
        if rx.is_empty()
            && let Err(e) = sink.flush().await
        {
            tracing::debug!(error = %e, "spdy flush failed");
            cancel.cancel();
            return;
        }
    }
    let _ = sink.flush().await;
    let _ = tokio::io::AsyncWriteExt::shutdown(sink.get_mut()).await;
    cancel.cancel();
}

#[cfg(test)]
mod tests;
