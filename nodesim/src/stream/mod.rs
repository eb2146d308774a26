//! The kubelet's streaming protocols, independent of what runs behind them: remote command
//! (exec/attach) and port-forward over SPDY/3.1 and over WebSocket.

pub mod exec_spdy;
pub mod exec_ws;
pub mod portforward;
pub mod protocol;
mod ws_bytes;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::sync::mpsc;

/// A readable half handed to a session (stdin).
pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// A writable half handed to a session (stdout, stderr).
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Terminal size as the resize stream/channel carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TermSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// Which streams the client asked for (`stdin`, `stdout`, `stderr`, `tty` query parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamOptions {
    /// Pass stdin.
    pub stdin: bool,
    /// Return stdout.
    pub stdout: bool,
    /// Return stderr (ignored with a TTY, as the kubelet does).
    pub stderr: bool,
    /// Allocate a TTY.
    pub tty: bool,
}

impl StreamOptions {
    /// Whether stderr is streamed separately (never with a TTY).
    pub fn separate_stderr(&self) -> bool {
        self.stderr && !self.tty
    }
}

/// The I/O of an exec or attach session as the provider sees it.
pub struct ExecIo {
    /// The client's stdin, if requested. EOF when the client closes it.
    pub stdin: Option<BoxRead>,
    /// Where stdout goes, if requested.
    pub stdout: Option<BoxWrite>,
    /// Where stderr goes, if requested (absent with a TTY).
    pub stderr: Option<BoxWrite>,
    /// Whether a TTY was requested.
    pub tty: bool,
    /// Terminal resize events, with a TTY.
    pub resize: Option<mpsc::Receiver<TermSize>>,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    /// The process exited with this code.
    Exited(i32),
    /// The session could not run (reported as an internal error, as the kubelet does).
    Error(String),
}

/// The work behind an exec/attach stream: runs with the session's I/O.
pub type ExecSession = Box<dyn FnOnce(ExecIo) -> BoxFuture<'static, ExecOutcome> + Send>;

/// Connects one forwarded connection to a port of the pod; `Err` is the message the kubelet
/// writes to the port's error stream.
pub type PortForwarder = std::sync::Arc<
    dyn Fn(u16, DuplexStream) -> BoxFuture<'static, Result<(), String>> + Send + Sync,
>;

/// The `metav1.Status` the kubelet writes on the error stream when a session ends.
pub fn exit_status(outcome: &ExecOutcome) -> serde_json::Value {
    match outcome {
        ExecOutcome::Exited(0) => serde_json::json!({"metadata": {}, "status": "Success"}),
        ExecOutcome::Exited(code) => serde_json::json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        ExecOutcome::Error(message) => serde_json::json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("Internal error occurred: {message}"),
            "reason": "InternalError",
            "details": {"causes": [{"message": message}]},
            "code": 500,
        }),
    }
}

/// What a protocol version writes on the error stream: v4+ always a JSON `Status`; older
/// versions only the failure message, as text.
pub fn status_payload(json_status: bool, outcome: &ExecOutcome) -> Option<Vec<u8>> {
    let status = exit_status(outcome);
    if json_status {
        return serde_json::to_vec(&status).ok();
    }
    match outcome {
        ExecOutcome::Exited(0) => None,
        _ => status
            .get("message")
            .and_then(|m| m.as_str())
            .map(|m| m.as_bytes().to_vec()),
    }
}

/// Splits a byte buffer of concatenated JSON resize messages into sizes, keeping an incomplete
/// tail for the next call.
pub(crate) fn parse_resizes(buf: &mut Vec<u8>) -> Vec<TermSize> {
    let mut sizes = Vec::new();
    let mut consumed = 0;
    {
        let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<TermSize>();
        loop {
            match it.next() {
                Some(Ok(size)) => {
                    sizes.push(size);
                    consumed = it.byte_offset();
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(_)) => {
                    // Garbage: drop everything seen so far, as a kubelet would log and skip it.
                    consumed = buf.len();
                    break;
                }
                None => {
                    consumed = it.byte_offset();
                    break;
                }
            }
        }
    }
    buf.drain(..consumed);
    sizes
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn status_of_a_failed_command_names_the_exit_code() {
        let s = exit_status(&ExecOutcome::Exited(3));
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(status_payload(false, &ExecOutcome::Exited(0)), None);
        assert!(
            String::from_utf8(status_payload(false, &ExecOutcome::Exited(3)).unwrap())
                .unwrap()
                .contains("non-zero exit code")
        );
        let ok: serde_json::Value =
            serde_json::from_slice(&status_payload(true, &ExecOutcome::Exited(0)).unwrap())
                .unwrap();
        assert_eq!(ok["status"], "Success");
    }

    #[test]
    fn resize_messages_are_parsed_across_chunks() {
        let mut buf = br#"{"Width":80,"Height":24}{"Width":1"#.to_vec();
        assert_eq!(
            parse_resizes(&mut buf),
            vec![TermSize {
                width: 80,
                height: 24
            }]
        );
        buf.extend_from_slice(br#"00,"Height":50}"#);
        assert_eq!(
            parse_resizes(&mut buf),
            vec![TermSize {
                width: 100,
                height: 50
            }]
        );
        assert!(buf.is_empty());
    }
}

#[cfg(test)]
mod tests;
