//! Reading a session: every frame from the peer, streams opened and fed with back-pressure,
//! receive credit returned, pings echoed, protocol errors answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::spdy::frame::{FLAG_FIN, Frame, FrameCodec, FrameError, Headers, goaway, rst, settings};

use super::shared::{CREDIT_THRESHOLD, Entry, Out, STREAM_BUFFER, Streams};
use super::stream::SpdyStream;

/// The session's read side: frames from the peer open, feed, credit and reset streams.
pub(super) struct Reader {
    pub(super) out: mpsc::Sender<Out>,
    pub(super) incoming: Option<mpsc::Sender<SpdyStream>>,
    pub(super) streams: Streams,
    pub(super) last_peer_id: Arc<std::sync::atomic::AtomicU32>,
    pub(super) going_away: Arc<AtomicBool>,
    pub(super) session_unacked: i64,
}

impl Reader {
    pub(super) async fn run<R: AsyncRead + Unpin>(
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
