//! Deterministic container logs: line `i` of an instance is written `i` intervals after the
//! container started and names the pod, container and instance, so tests can predict them.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::provider::{LogOptions, LogStream};

/// One container instance's log source.
#[derive(Debug, Clone)]
pub struct LogSource {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// Restart count of this instance.
    pub instance: i32,
    /// When it started.
    pub start: jiff::Timestamp,
    /// When it stopped, if it did.
    pub end: Option<jiff::Timestamp>,
    /// Time between lines.
    pub interval: Duration,
}

impl LogSource {
    /// Timestamp of line `i`.
    pub fn time_of(&self, i: u64) -> jiff::Timestamp {
        let nanos = self.interval.as_nanos().saturating_mul(u128::from(i));
        let span = jiff::SignedDuration::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX));
        self.start.checked_add(span).unwrap_or(self.start)
    }

    /// Text of line `i` (without timestamp, with newline).
    pub fn text_of(&self, i: u64) -> String {
        format!(
            "nodesim {}/{} container {} instance {}: line {}\n",
            self.namespace, self.pod, self.container, self.instance, i
        )
    }

    /// Number of lines written by `now`.
    pub fn count_at(&self, now: jiff::Timestamp) -> u64 {
        let now = self.end.map_or(now, |e| e.min(now));
        if now < self.start {
            return 0;
        }
        let elapsed = now.duration_since(self.start).as_nanos().max(0) as u128;
        let step = self.interval.as_nanos().max(1);
        u64::try_from(elapsed / step)
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    fn render(&self, i: u64, timestamps: bool) -> String {
        if timestamps {
            format!(
                "{} {}",
                format_rfc3339_nano(self.time_of(i)),
                self.text_of(i)
            )
        } else {
            self.text_of(i)
        }
    }

    /// Indices of the lines a non-follow request returns at `now`.
    pub fn selected(&self, opts: &LogOptions, now: jiff::Timestamp) -> std::ops::Range<u64> {
        let count = self.count_at(now);
        let mut first = 0;
        if let Some(since) = opts.since {
            while first < count && self.time_of(first) < since {
                first += 1;
            }
        }
        if let Some(tail) = opts.tail_lines {
            let tail = u64::try_from(tail.max(0)).unwrap_or(0);
            first = first.max(count.saturating_sub(tail));
        }
        first..count
    }

    /// The log stream for a request; with `follow` it continues until the instance ends.
    pub fn stream(self, opts: LogOptions, alive: impl Fn() -> bool + Send + 'static) -> LogStream {
        let now = jiff::Timestamp::now();
        let range = self.selected(&opts, now);
        let ts = opts.timestamps;
        let follow = opts.follow && self.end.is_none();
        let source = self.clone();
        let initial = futures::stream::iter(
            range
                .clone()
                .map(move |i| Bytes::from(source.render(i, ts))),
        );
        let next = range.end;
        let tail = futures::stream::unfold((self, next), move |(src, i)| {
            let alive_now = follow && alive();
            async move {
                if !alive_now {
                    return None;
                }
                let due = src.time_of(i);
                let wait = due.duration_since(jiff::Timestamp::now());
                if wait.is_positive() {
                    tokio::time::sleep(wait.unsigned_abs()).await;
                }
                let line = Bytes::from(src.render(i, ts));
                Some((line, (src, i + 1)))
            }
        });
        let all = initial.chain(tail);
        match opts.limit_bytes {
            Some(limit) => limit_bytes(all.boxed(), u64::try_from(limit.max(0)).unwrap_or(0)),
            None => all.boxed(),
        }
    }
}

/// RFC 3339 with nanoseconds, as the kubelet prefixes lines.
pub fn format_rfc3339_nano(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%fZ").to_string()
}

fn limit_bytes(inner: LogStream, limit: u64) -> LogStream {
    futures::stream::unfold((inner, limit), |(mut inner, left)| async move {
        if left == 0 {
            return None;
        }
        let mut chunk = inner.next().await?;
        if chunk.len() as u64 > left {
            chunk.truncate(usize::try_from(left).unwrap_or(0));
        }
        let left = left - chunk.len() as u64;
        Some((chunk, (inner, left)))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> LogSource {
        LogSource {
            namespace: "ns".into(),
            pod: "p".into(),
            container: "c".into(),
            instance: 0,
            start: jiff::Timestamp::from_second(1000).unwrap(),
            end: None,
            interval: Duration::from_secs(1),
        }
    }

    #[test]
    fn lines_accumulate_over_time() {
        let s = src();
        let at = |sec| jiff::Timestamp::from_second(sec).unwrap();
        assert_eq!(s.count_at(at(999)), 0);
        assert_eq!(s.count_at(at(1000)), 1);
        assert_eq!(s.count_at(at(1009)), 10);
        let tail = LogOptions {
            tail_lines: Some(3),
            ..Default::default()
        };
        assert_eq!(s.selected(&tail, at(1009)), 7..10);
        let since = LogOptions {
            since: Some(at(1005)),
            ..Default::default()
        };
        assert_eq!(s.selected(&since, at(1009)), 5..10);
        assert_eq!(
            s.text_of(3),
            "nodesim ns/p container c instance 0: line 3\n"
        );
        assert!(s.render(0, true).starts_with("1970-01-01T00:16:40."));
    }

    #[tokio::test]
    async fn limit_bytes_cuts_the_stream() {
        let mut s = src();
        s.start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(5);
        let opts = LogOptions {
            limit_bytes: Some(10),
            ..Default::default()
        };
        let out: Vec<Bytes> = s.stream(opts, || true).collect().await;
        let total: usize = out.iter().map(|b| b.len()).sum();
        assert_eq!(total, 10);
    }

    #[tokio::test]
    async fn follow_keeps_producing_until_stopped() {
        let mut s = src();
        s.interval = Duration::from_millis(20);
        s.start = jiff::Timestamp::now();
        let opts = LogOptions {
            follow: true,
            ..Default::default()
        };
        let lines: Vec<Bytes> = s.stream(opts, || true).take(4).collect().await;
        assert_eq!(lines.len(), 4);
        assert!(String::from_utf8_lossy(&lines[3]).ends_with("line 3\n"));
    }
}
