//! Remote command over WebSocket: one connection, messages prefixed with a channel byte
//! (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize), base64 text for the base64 protocols,
//! and in v5 the close signal (channel 255 followed by the channel to close).

use base64::Engine;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::protocol::Flavor;
use super::{ExecIo, ExecSession, StreamOptions, TermSize, parse_resizes, status_payload};

/// Channel numbers.
pub mod channel {
    /// stdin.
    pub const STDIN: u8 = 0;
    /// stdout.
    pub const STDOUT: u8 = 1;
    /// stderr.
    pub const STDERR: u8 = 2;
    /// error (status).
    pub const ERROR: u8 = 3;
    /// resize.
    pub const RESIZE: u8 = 4;
    /// v5 close signal.
    pub const CLOSE: u8 = 255;
}

const PIPE: usize = 64 * 1024;

/// Encodes one channel message for the negotiated protocol.
pub fn encode(flavor: Flavor, ch: u8, data: &[u8]) -> Message {
    if flavor.base64 {
        let mut text = String::with_capacity(1 + data.len() * 4 / 3 + 4);
        text.push(char::from(b'0' + ch));
        text.push_str(&base64::engine::general_purpose::STANDARD.encode(data));
        Message::text(text)
    } else {
        let mut bytes = Vec::with_capacity(1 + data.len());
        bytes.push(ch);
        bytes.extend_from_slice(data);
        Message::binary(bytes)
    }
}

/// Decodes a client message into (channel, payload).
pub fn decode(msg: &Message) -> Option<(u8, Vec<u8>)> {
    match msg {
        Message::Binary(b) if !b.is_empty() => Some((b[0], b[1..].to_vec())),
        Message::Text(t) if !t.is_empty() => {
            let bytes = t.as_bytes();
            let ch = bytes[0].checked_sub(b'0')?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(&bytes[1..])
                .ok()?;
            Some((ch, data))
        }
        _ => None,
    }
}

/// Serves one exec/attach session on an accepted WebSocket.
pub async fn serve<S>(
    ws: WebSocketStream<S>,
    flavor: Flavor,
    opts: StreamOptions,
    session: ExecSession,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut source) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            let closing = matches!(msg, Message::Close(_));
            if sink.send(msg).await.is_err() || closing {
                break;
            }
        }
    });
    // Tell the client the session is established: an empty message on the lowest writable channel.
    let first = if opts.stdout {
        channel::STDOUT
    } else if opts.separate_stderr() {
        channel::STDERR
    } else {
        channel::ERROR
    };
    let _ = out_tx.send(encode(flavor, first, &[])).await;

    let (stdin, mut stdin_w) = if opts.stdin {
        let (r, w) = tokio::io::duplex(PIPE);
        (Some(Box::new(r) as super::BoxRead), Some(w))
    } else {
        (None, None)
    };
    let (resize, resize_tx) = if opts.tty && flavor.resize {
        let (tx, rx) = mpsc::channel::<TermSize>(16);
        (Some(rx), Some(tx))
    } else {
        (None, None)
    };
    let reader = async move {
        let mut resize_buf = Vec::new();
        while let Some(Ok(msg)) = source.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            let Some((ch, data)) = decode(&msg) else {
                continue;
            };
            match ch {
                channel::STDIN => {
                    if let Some(w) = stdin_w.as_mut()
                        && w.write_all(&data).await.is_err()
                    {
                        stdin_w = None;
                    }
                }
                channel::RESIZE => {
                    resize_buf.extend_from_slice(&data);
                    if let Some(tx) = &resize_tx {
                        for size in parse_resizes(&mut resize_buf) {
                            let _ = tx.send(size).await;
                        }
                    }
                }
                channel::CLOSE if flavor.close_signal => {
                    if data.first() == Some(&channel::STDIN)
                        && let Some(mut w) = stdin_w.take()
                    {
                        let _ = w.shutdown().await;
                    }
                }
                _ => {}
            }
        }
    };
    let (stdout, stdout_task) = out_pipe(opts.stdout, flavor, channel::STDOUT, &out_tx);
    let (stderr, stderr_task) = out_pipe(opts.separate_stderr(), flavor, channel::STDERR, &out_tx);
    let io = ExecIo {
        stdin,
        stdout,
        stderr,
        tty: opts.tty,
        resize,
    };
    let outcome = tokio::select! {
        outcome = session(io) => Some(outcome),
        _ = reader => None,
    };
    for task in [stdout_task, stderr_task].into_iter().flatten() {
        let _ = task.await;
    }
    if let Some(outcome) = outcome
        && let Some(p) = status_payload(flavor.json_status, &outcome)
    {
        let _ = out_tx.send(encode(flavor, channel::ERROR, &p)).await;
    }
    let _ = out_tx
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await;
    drop(out_tx);
    let _ = writer.await;
}

type OutPipe = (Option<super::BoxWrite>, Option<tokio::task::JoinHandle<()>>);

fn out_pipe(enabled: bool, flavor: Flavor, ch: u8, out: &mpsc::Sender<Message>) -> OutPipe {
    if !enabled {
        return (None, None);
    }
    let (mut r, w) = tokio::io::duplex(PIPE);
    let out = out.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.send(encode(flavor, ch, &buf[..n])).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    (Some(Box::new(w) as super::BoxWrite), Some(task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::protocol::flavor;

    #[test]
    fn channel_framing() {
        let bin = encode(flavor("v5.channel.k8s.io"), 1, b"hi");
        assert_eq!(bin, Message::binary(vec![1, b'h', b'i']));
        assert_eq!(decode(&bin), Some((1, b"hi".to_vec())));
        let text = encode(flavor("v4.base64.channel.k8s.io"), 2, b"hi");
        assert_eq!(text, Message::text("2aGk="));
        assert_eq!(decode(&text), Some((2, b"hi".to_vec())));
        assert_eq!(decode(&Message::binary(Vec::<u8>::new())), None);
    }
}
