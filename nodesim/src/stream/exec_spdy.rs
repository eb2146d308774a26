//! Remote command (exec/attach) over SPDY: the client opens one stream per `streamType`
//! (error, stdin, stdout, stderr, resize); the exit status goes on the error stream.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::protocol::Flavor;
use super::{ExecIo, ExecOutcome, ExecSession, StreamOptions, parse_resizes, status_payload};
use crate::spdy::conn::{Connection, SpdyStream, StreamRecv, StreamSend};
use crate::spdy::frame::rst;

/// How long the client has to open all expected streams (the kubelet's default).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
const PIPE: usize = 64 * 1024;

#[derive(Default)]
struct Streams {
    error: Option<SpdyStream>,
    stdin: Option<SpdyStream>,
    stdout: Option<SpdyStream>,
    stderr: Option<SpdyStream>,
    resize: Option<SpdyStream>,
}

impl Streams {
    fn complete(&self, opts: &StreamOptions, flavor: Flavor) -> bool {
        self.error.is_some()
            && (!opts.stdin || self.stdin.is_some())
            && (!opts.stdout || self.stdout.is_some())
            && (!opts.separate_stderr() || self.stderr.is_some())
            && (!(opts.tty && flavor.resize) || self.resize.is_some())
    }

    async fn add(&mut self, mut stream: SpdyStream) {
        let kind = stream.headers().get("streamtype").unwrap_or("").to_string();
        let slot = match kind.as_str() {
            "error" => &mut self.error,
            "stdin" => &mut self.stdin,
            "stdout" => &mut self.stdout,
            "stderr" => &mut self.stderr,
            "resize" => &mut self.resize,
            other => {
                tracing::debug!(stream_type = other, "unexpected stream type");
                stream.reset(rst::PROTOCOL_ERROR).await;
                return;
            }
        };
        if slot.is_some() {
            stream.reset(rst::PROTOCOL_ERROR).await;
        } else {
            *slot = Some(stream);
        }
    }
}

/// Serves one exec/attach session on an upgraded SPDY connection.
pub async fn serve(
    mut conn: Connection,
    flavor: Flavor,
    opts: StreamOptions,
    session: ExecSession,
) {
    let mut streams = Streams::default();
    let gathered = tokio::time::timeout(STREAM_CREATION_TIMEOUT, async {
        while !streams.complete(&opts, flavor) {
            match conn.accept().await {
                Some(s) => streams.add(s).await,
                None => return false,
            }
        }
        true
    })
    .await;
    if gathered != Ok(true) {
        if let Some(mut error) = streams.error.take() {
            let msg = "timed out waiting for client to create streams";
            let outcome = ExecOutcome::Error(msg.to_string());
            if let Some(p) = status_payload(flavor.json_status, &outcome) {
                let _ = error.send(Bytes::from(p)).await;
            }
            let _ = error.finish().await;
        }
        conn.close().await;
        return;
    }
    let Some(mut error) = streams.error.take() else {
        return;
    };
    let (stdin, stdin_task) = match streams.stdin.take() {
        Some(s) => {
            let (recv, _send) = s.split();
            let (r, w) = tokio::io::duplex(PIPE);
            (
                Some(Box::new(r) as super::BoxRead),
                Some(tokio::spawn(pump_in(recv, w))),
            )
        }
        None => (None, None),
    };
    let (stdout, stdout_task) = out_pipe(streams.stdout.take());
    let (stderr, stderr_task) = out_pipe(streams.stderr.take());
    let resize = streams.resize.take().map(|s| {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(pump_resize(s, tx));
        rx
    });
    let io = ExecIo {
        stdin,
        stdout,
        stderr,
        tty: opts.tty,
        resize,
    };
    let outcome = tokio::select! {
        outcome = session(io) => Some(outcome),
        // The client went away: the session is abandoned, as the kubelet cancels it.
        _ = drain_extra(&mut conn) => None,
    };
    for task in [stdout_task, stderr_task].into_iter().flatten() {
        let _ = task.await;
    }
    if let Some(t) = stdin_task {
        t.abort();
    }
    if let Some(outcome) = outcome {
        if let Some(p) = status_payload(flavor.json_status, &outcome) {
            let _ = error.send(Bytes::from(p)).await;
        }
        let _ = error.finish().await;
    }
    conn.close().await;
}

/// Resets streams opened after the session started and returns when the session ends.
async fn drain_extra(conn: &mut Connection) {
    while let Some(mut s) = conn.accept().await {
        s.reset(rst::REFUSED_STREAM).await;
    }
}

type OutPipe = (Option<super::BoxWrite>, Option<JoinHandle<()>>);

fn out_pipe(stream: Option<SpdyStream>) -> OutPipe {
    let Some(stream) = stream else {
        return (None, None);
    };
    let (recv, send) = stream.split();
    let (r, w) = tokio::io::duplex(PIPE);
    (
        Some(Box::new(w) as super::BoxWrite),
        Some(tokio::spawn(pump_out(r, recv, send))),
    )
}

async fn pump_in(mut recv: StreamRecv, mut w: tokio::io::DuplexStream) {
    while let Some(chunk) = recv.recv().await {
        if w.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

/// Copies a session's output to a stream. The receiving half stays registered until the end so
/// that the client's own FIN on this stream is not answered with a reset.
async fn pump_out(mut r: tokio::io::DuplexStream, _recv: StreamRecv, mut send: StreamSend) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if send.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = send.finish().await;
}

async fn pump_resize(mut stream: SpdyStream, tx: mpsc::Sender<super::TermSize>) {
    let mut buf = Vec::new();
    while let Some(chunk) = stream.recv().await {
        buf.extend_from_slice(&chunk);
        for size in parse_resizes(&mut buf) {
            if tx.send(size).await.is_err() {
                return;
            }
        }
    }
}
