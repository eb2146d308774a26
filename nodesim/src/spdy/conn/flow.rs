//! Sending a session: send-side flow control (pure) and the writer task driving it.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use futures::SinkExt;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;

use crate::spdy::frame::{FLAG_FIN, Frame, FrameCodec};

use super::shared::{DEFAULT_WINDOW, Out};

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

/// The session's write side: frames go out in order, DATA as the peer's windows allow.
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
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
