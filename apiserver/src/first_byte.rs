//! A connection that must start talking in time. hyper's header-read timeout starts at the
//! first byte of a request, so a client that completes the TLS handshake and then sends nothing
//! would hold its connection (and a file descriptor) forever; upstream's Go server closes such a
//! connection after `ReadHeaderTimeout`. [`FirstByteDeadline`] fails the first read with
//! `TimedOut` when no byte arrived within the deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// An I/O stream whose first byte must arrive before a deadline.
pub struct FirstByteDeadline<T> {
    inner: T,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> FirstByteDeadline<T> {
    /// Wraps `inner`; the first byte must arrive within `timeout`.
    pub fn new(inner: T, timeout: Duration) -> Self {
        FirstByteDeadline {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FirstByteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.deadline.is_some() {
            if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
                this.deadline = None;
            } else if let Poll::Pending = polled
                && let Some(deadline) = this.deadline.as_mut()
                && deadline.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request within the header read timeout",
                )));
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FirstByteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn silent_peers_time_out_and_talkers_do_not() {
        let timeout = Duration::from_millis(100);
        let (client, server) = tokio::io::duplex(64);
        let mut wrapped = FirstByteDeadline::new(server, timeout);
        let mut buf = [0u8; 8];
        let err = wrapped.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(client);

        let (mut client, server) = tokio::io::duplex(64);
        let mut wrapped = FirstByteDeadline::new(server, timeout);
        client.write_all(b"GET").await.unwrap();
        assert_eq!(wrapped.read(&mut buf).await.unwrap(), 3);
        // Once talking, later silences are hyper's business (header timeout, keep-alive).
        tokio::time::sleep(timeout * 2).await;
        client.write_all(b"/").await.unwrap();
        assert_eq!(wrapped.read(&mut buf).await.unwrap(), 1);
    }
}
