//! The server side of a SPDY/3.1 session: accepts client streams, replies to them, echoes pings,
//! honours flow control, and hands each stream to the application as a [`SpdyStream`].
//!
//! Flow control: the receive side always credits the peer with WINDOW_UPDATEs (per stream and,
//! as SPDY/3.1 adds, for the session). The send side accounts every DATA frame against the
//! peer's windows but only *waits* for credit once the peer has shown that it implements flow
//! control (it sent a WINDOW_UPDATE or SETTINGS_INITIAL_WINDOW_SIZE). Go's `moby/spdystream`,
//! which every Kubernetes client uses, never sends either and ignores the windows entirely, so
//! blocking on them would stall every transfer after 64 KiB.
//!
//! The session's read side lives in `reader`, its send side with flow control in `flow`, the
//! application's stream handles in `stream`, and what these share in `shared`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use super::frame::{Frame, FrameCodec, goaway};

mod flow;
mod reader;
mod shared;
mod stream;

use flow::write_loop;
use reader::Reader;
pub use shared::DEFAULT_WINDOW;
use shared::{Out, Streams};
pub use stream::{SpdyStream, StreamError, StreamRecv, StreamSend};

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

#[cfg(test)]
mod tests;
