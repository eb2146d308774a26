//! Per-tenant request metrics.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Tenant label for requests whose client was not authenticated (bounded cardinality: an
/// attacker's made-up CNs never become label values).
pub const UNAUTHENTICATED: &str = "-";

/// vn-agent's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Requests by tenant, action and HTTP code.
    pub requests: IntCounterVec,
    /// Refused or failed requests by tenant, action and reason.
    pub failures: IntCounterVec,
    /// Requests in flight by tenant (including streaming responses until their body ends).
    pub in_flight: IntGaugeVec,
    /// Time to response headers by tenant and action.
    pub latency: HistogramVec,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "vn_agent_requests_total",
                "Kubelet API requests by tenant, action and code.",
            ),
            &["tenant", "action", "code"],
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "vn_agent_request_failures_total",
                "Refused or failed kubelet API requests by tenant, action and reason.",
            ),
            &["tenant", "action", "reason"],
        )?;
        let in_flight = IntGaugeVec::new(
            Opts::new(
                "vn_agent_requests_in_flight",
                "Kubelet API requests in flight by tenant.",
            ),
            &["tenant"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "vn_agent_request_duration_seconds",
                "Time until response headers, by tenant and action.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["tenant", "action"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Metrics {
            requests,
            failures,
            in_flight,
            latency,
        })
    }
}
