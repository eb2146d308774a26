//! What the session's reader, writer and stream handles share: the writer's messages, the
//! table of open streams, and the window sizes.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::spdy::frame::Frame;

/// Default initial window of SPDY/3 (64 KiB), for streams and the session.
pub const DEFAULT_WINDOW: i64 = 65_536;
/// Receive credit is returned once this much has been consumed.
pub(super) const CREDIT_THRESHOLD: i64 = DEFAULT_WINDOW / 2;
/// Buffered DATA frames per stream before the session reader waits (TCP back-pressure).
pub(super) const STREAM_BUFFER: usize = 64;

/// Messages to the writer task.
pub(super) enum Out {
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

/// A stream's entry in the session's table: where its DATA goes and whether it was reset.
pub(super) struct Entry {
    /// Sender of the stream's incoming DATA; `None` after the peer's FIN.
    pub(super) data: Option<mpsc::Sender<Bytes>>,
    /// Set once the stream is reset or the session ended.
    pub(super) reset: Arc<AtomicBool>,
    /// Received bytes not yet credited back to the peer.
    pub(super) unacked: i64,
}

/// The open streams of a session, by id.
pub(super) type Streams = Arc<Mutex<HashMap<u32, Entry>>>;
