//! Prometheus metrics of the server.

use std::time::Duration;

use http::{Method, Response, StatusCode};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::http::request::{self, Route};
use crate::http::response::{self, Body};
use crate::store::Store;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Open watches.
    pub watchers: IntGauge,
    objects: IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers the metrics.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "apiserver_request_total",
                "Requests by verb, resource and HTTP code.",
            ),
            &["verb", "resource", "code"],
        )
        .unwrap_or_else(|_| unreachable!("static metric definition"));
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "apiserver_request_duration_seconds",
                "Request latency by verb and resource.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["verb", "resource"],
        )
        .unwrap_or_else(|_| unreachable!("static metric definition"));
        let watchers = IntGauge::new("apiserver_registered_watchers", "Open watch streams.")
            .unwrap_or_else(|_| unreachable!("static metric definition"));
        let objects = IntGaugeVec::new(
            Opts::new("apiserver_storage_objects", "Stored objects by resource."),
            &["resource"],
        )
        .unwrap_or_else(|_| unreachable!("static metric definition"));
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(watchers.clone()),
            Box::new(objects.clone()),
        ] {
            let _ = registry.register(c);
        }
        Metrics {
            registry,
            requests,
            latency,
            watchers,
            objects,
        }
    }

    /// Records one finished request.
    pub fn observe(&self, method: &Method, path: &str, code: u16, took: Duration) {
        let resource = match request::route(path) {
            Route::Resource(info) => match info.subresource {
                Some(s) => format!("{}/{}", info.resource, s),
                None => info.resource,
            },
            Route::Other(_) => "nonresource".to_string(),
            _ => "discovery".to_string(),
        };
        let verb = method.as_str();
        self.requests
            .with_label_values(&[verb, &resource, &code.to_string()])
            .inc();
        self.latency
            .with_label_values(&[verb, &resource])
            .observe(took.as_secs_f64());
    }

    /// `/metrics` in the Prometheus text format.
    pub fn render(&self, store: &Store) -> Response<Body> {
        for (res, n) in store.counts() {
            self.objects
                .with_label_values(&[res.as_str()])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return response::text(StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed");
        }
        let mut r = response::text(StatusCode::OK, buf);
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        r
    }
}
