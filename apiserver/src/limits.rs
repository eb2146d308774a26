//! What keeps one client from stalling the server, after upstream's defaults: a header-read
//! timeout and header size limit per connection, a cap on connections that have not yet
//! authenticated, and at most `--max-requests-inflight` read-only and
//! `--max-mutating-requests-inflight` mutating requests at once (long-running requests —
//! watches, logs, exec, attach, port-forward, proxy — are not counted), answering 429 beyond.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http::Method;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// The limits, upstream's defaults unless configured.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Read-only requests served at once (`--max-requests-inflight`, 0 = unlimited).
    pub max_requests_inflight: usize,
    /// Mutating requests served at once (`--max-mutating-requests-inflight`, 0 = unlimited).
    pub max_mutating_requests_inflight: usize,
    /// Connections open at once that have not yet authenticated a request.
    pub max_unauthenticated_connections: usize,
    /// How long a client may take to send a request's headers (Go's `ReadHeaderTimeout`).
    pub header_read_timeout: Duration,
    /// Largest request header block (Go's `MaxHeaderBytes`).
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_requests_inflight: 400,
            max_mutating_requests_inflight: 200,
            max_unauthenticated_connections: 1024,
            header_read_timeout: Duration::from_secs(32),
            max_header_bytes: 1 << 20,
        }
    }
}

/// The live counters behind [`Limits`], shared by every connection.
#[derive(Debug)]
pub struct Guard {
    limits: Limits,
    readonly: Arc<Semaphore>,
    mutating: Arc<Semaphore>,
    unauthenticated: Arc<AtomicUsize>,
}

/// A connection that counts against the unauthenticated cap until [`Pending::authenticated`].
#[derive(Debug)]
pub struct Pending {
    counter: Arc<AtomicUsize>,
    counted: AtomicBool,
}

impl Pending {
    /// The connection's client authenticated: it no longer counts.
    pub fn authenticated(&self) {
        if self.counted.swap(false, Ordering::AcqRel) {
            self.counter.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.authenticated();
    }
}

impl Guard {
    /// Counters for `limits`.
    pub fn new(limits: Limits) -> Self {
        let permits = |n: usize| {
            Arc::new(Semaphore::new(if n == 0 {
                Semaphore::MAX_PERMITS
            } else {
                n
            }))
        };
        Guard {
            readonly: permits(limits.max_requests_inflight),
            mutating: permits(limits.max_mutating_requests_inflight),
            unauthenticated: Arc::new(AtomicUsize::new(0)),
            limits,
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Admits a new connection as unauthenticated, or `None` when the cap is reached (the
    /// caller closes it).
    pub fn admit_connection(&self) -> Option<Pending> {
        let cap = self.limits.max_unauthenticated_connections;
        let admitted = self
            .unauthenticated
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .is_ok();
        admitted.then(|| Pending {
            counter: self.unauthenticated.clone(),
            counted: AtomicBool::new(true),
        })
    }

    /// A slot for one request, `None` for long-running ones (not limited), or the 429 to send.
    pub fn admit_request(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
    ) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        if is_long_running(method, path, query) {
            return Ok(None);
        }
        let pool = if is_mutating(method) {
            &self.mutating
        } else {
            &self.readonly
        };
        match pool.clone().try_acquire_owned() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => Err(ApiError::too_many_requests(
                "Too many requests, please try again later.",
                1,
            )),
        }
    }
}

/// A response body that holds its request's in-flight slot until it has been sent, as upstream
/// counts a request until its handler has written the answer.
pub struct HeldBody<B> {
    inner: B,
    _permit: OwnedSemaphorePermit,
}

impl<B> HeldBody<B> {
    /// `inner`, keeping `permit` until the body is dropped.
    pub fn new(inner: B, permit: OwnedSemaphorePermit) -> Self {
        HeldBody {
            inner,
            _permit: permit,
        }
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for HeldBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Upstream's default `--long-running-request-regexp`
/// (`(/|^)((watch|proxy)(/|$)|(logs?|portforward|exec|attach)/?$)`) plus `watch=true`.
pub fn is_long_running(_method: &Method, path: &str, query: Option<&str>) -> bool {
    let watching = query.is_some_and(|q| {
        q.split('&')
            .any(|kv| matches!(kv, "watch=true" | "watch=1" | "watch=True"))
    });
    if watching {
        return true;
    }
    if path.split('/').any(|s| s == "watch" || s == "proxy") {
        return true;
    }
    let last = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    matches!(last, "log" | "logs" | "portforward" | "exec" | "attach")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_running_requests_as_upstream_classifies_them() {
        let get = Method::GET;
        for (path, query) in [
            ("/api/v1/pods", Some("watch=true")),
            ("/api/v1/watch/pods", None),
            ("/api/v1/namespaces/d/pods/p/log", Some("follow=true")),
            ("/api/v1/namespaces/d/pods/p/exec", Some("command=sh")),
            ("/api/v1/namespaces/d/pods/p/attach", None),
            ("/api/v1/namespaces/d/pods/p/portforward", None),
            ("/api/v1/nodes/n/proxy/stats", None),
            ("/api/v1/namespaces/d/services/s/proxy", None),
        ] {
            assert!(is_long_running(&get, path, query), "{path}");
        }
        for (path, query) in [
            ("/api/v1/pods", None),
            ("/api/v1/pods", Some("watch=false")),
            ("/api/v1/namespaces/watchers/pods", None),
            ("/api/v1/namespaces/d/configmaps/logs-config", None),
        ] {
            assert!(!is_long_running(&get, path, query), "{path}");
        }
    }

    #[test]
    fn requests_beyond_the_limit_get_429_and_slots_come_back() {
        let guard = Guard::new(Limits {
            max_requests_inflight: 1,
            max_mutating_requests_inflight: 1,
            ..Limits::default()
        });
        let first = guard
            .admit_request(&Method::GET, "/api/v1/pods", None)
            .unwrap();
        let refused = guard
            .admit_request(&Method::GET, "/api/v1/pods", None)
            .unwrap_err();
        assert_eq!(refused.code, 429);
        assert_eq!(refused.retry_after, Some(1));
        // Mutating requests have their own pool; watches are not limited.
        assert!(
            guard
                .admit_request(&Method::POST, "/api/v1/pods", None)
                .is_ok()
        );
        assert!(
            guard
                .admit_request(&Method::GET, "/api/v1/pods", Some("watch=true"))
                .unwrap()
                .is_none()
        );
        drop(first);
        assert!(
            guard
                .admit_request(&Method::GET, "/api/v1/pods", None)
                .is_ok()
        );
    }

    #[test]
    fn unauthenticated_connections_are_capped_until_they_authenticate() {
        let guard = Guard::new(Limits {
            max_unauthenticated_connections: 2,
            ..Limits::default()
        });
        let a = guard.admit_connection().unwrap();
        let b = guard.admit_connection().unwrap();
        assert!(guard.admit_connection().is_none());
        a.authenticated();
        let c = guard.admit_connection().unwrap();
        assert!(guard.admit_connection().is_none());
        drop(b);
        drop(c);
        assert!(guard.admit_connection().is_some());
    }
}
