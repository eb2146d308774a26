//! Accepting TCP connections without spinning. `accept` fails while the process is out of file
//! descriptors (a flood of slow clients); retrying at once would spin a core and flood the log,
//! so failures back off exponentially from 5 ms to 1 s (as Go's `net/http` server does) and
//! are logged once per streak.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// First wait after a failed accept.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
/// Longest wait between accept attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The wait after `previous` (none: the first failure of a streak).
pub fn next_backoff(previous: Option<Duration>) -> Duration {
    match previous {
        None => FIRST_BACKOFF,
        Some(d) => (d * 2).min(MAX_BACKOFF),
    }
}

/// The next connection on `listener`; `what` names the listener in logs. Cancel-safe.
pub async fn accept(listener: &TcpListener, what: &str) -> (TcpStream, SocketAddr) {
    let mut backoff = None;
    let mut failures = 0u64;
    loop {
        match listener.accept().await {
            Ok(conn) => {
                if failures > 0 {
                    tracing::info!(listener = what, failures, "accepting connections again");
                }
                return conn;
            }
            Err(error) => {
                if failures == 0 {
                    tracing::warn!(listener = what, %error, "accept failed; backing off");
                }
                failures += 1;
                let wait = next_backoff(backoff);
                backoff = Some(wait);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_second() {
        let mut d = None;
        let mut seen = Vec::new();
        for _ in 0..12 {
            let next = next_backoff(d);
            seen.push(next.as_millis());
            d = Some(next);
        }
        assert_eq!(&seen[..4], &[5, 10, 20, 40]);
        assert_eq!(*seen.last().unwrap_or(&0), 1000);
    }
}
