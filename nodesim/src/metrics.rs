//! Prometheus metrics of a nodesim instance.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// All metrics; one registry per instance so that embedded instances do not collide.
#[derive(Clone)]
pub struct Metrics {
    /// The registry (exposed at the kubelet's `/metrics`).
    pub registry: Registry,
    /// Successful bindings.
    pub bindings: IntCounter,
    /// Scheduling attempts that found no node.
    pub unschedulable: IntCounter,
    /// Pod status writes.
    pub status_writes: IntCounter,
    /// Lease renewals.
    pub lease_renewals: IntCounter,
    /// Node status updates.
    pub node_status_updates: IntCounter,
    /// Kubelet API requests by endpoint and code.
    pub kubelet_requests: IntCounterVec,
    /// Nodes registered and heartbeating.
    pub nodes: IntGauge,
}

impl Metrics {
    /// Creates and registers the metrics.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(format!("nodesim_{name}"), help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let kubelet_requests = IntCounterVec::new(
            Opts::new("nodesim_kubelet_requests_total", "Kubelet API requests"),
            &["endpoint", "code"],
        )?;
        registry.register(Box::new(kubelet_requests.clone()))?;
        let nodes = IntGauge::new("nodesim_nodes", "Simulated nodes heartbeating")?;
        registry.register(Box::new(nodes.clone()))?;
        Ok(Self {
            bindings: counter("bindings_total", "Pods bound by the scheduler")?,
            unschedulable: counter(
                "unschedulable_total",
                "Scheduling attempts without a fitting node",
            )?,
            status_writes: counter("pod_status_writes_total", "Pod status writes")?,
            lease_renewals: counter("lease_renewals_total", "Node lease renewals")?,
            node_status_updates: counter("node_status_updates_total", "Node status updates")?,
            kubelet_requests,
            nodes,
            registry,
        })
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let mut buf = Vec::new();
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).to_string()
    }
}
