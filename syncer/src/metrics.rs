//! The syncer's Prometheus metrics, per tenant where it matters.

use std::collections::HashMap;

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Metric families could not be registered (duplicate names).
#[derive(Debug, thiserror::Error)]
#[error("registering syncer metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// Every metric the syncer exports.
pub struct Metrics {
    /// The registry they are registered in (served on `/metrics`).
    pub registry: Registry,
    /// `syncer_queue_depth{tenant,direction}`: items waiting (ready or delayed).
    pub queue_depth: IntGaugeVec,
    /// `syncer_queue_wait_seconds{tenant,direction}`: time from enqueue to processing.
    pub queue_wait: HistogramVec,
    /// `syncer_sync_duration_seconds{tenant,direction,resource}`: time to reconcile one item.
    pub sync_latency: HistogramVec,
    /// `syncer_write_latency_seconds{tenant,direction,resource}`: the syncer's share of a
    /// change's journey, from the change being seen (its item queued) to the write that
    /// carries it acknowledged (items that wrote nothing are not observed).
    pub write_latency: HistogramVec,
    /// `syncer_operations_total{tenant,direction,resource,result}`: reconciles by result
    /// (`created`, `updated`, `deleted`, `unchanged`, `retry`, `gave_up`, `rejected`).
    pub operations: IntCounterVec,
    /// `syncer_tenants`: tenants known to the syncer.
    pub tenants: IntGauge,
    /// `syncer_tenant_healthy{tenant}`: 1 when the tenant's caches are synced and it answers.
    pub tenant_healthy: IntGaugeVec,
    /// `syncer_patrol_repairs_total{tenant,resource,action}`: drift the patroller found.
    pub patrol_repairs: IntCounterVec,
    /// `syncer_patrol_duration_seconds`: time of one full patrol scan over every tenant.
    pub patrol_duration: Histogram,
    /// `syncer_virtual_nodes{tenant}`: virtual nodes in each tenant.
    pub virtual_nodes: IntGaugeVec,
    /// `syncer_lease_round_seconds`: time one tenant's round of virtual node Lease renewals
    /// takes (a round longer than the tenant's node grace period lets its nodes go stale).
    pub lease_round: Histogram,
    /// `syncer_token_refreshes_total{tenant,result}`: service-account tokens requested.
    pub token_requests: IntCounterVec,
    /// `syncer_policy_refusals_total{tenant,rule}`: tenant objects refused by the isolation
    /// profile (rule = the check, e.g. `privileged`, `tolerations`, `externalIPs`).
    pub policy_refusals: IntCounterVec,
    /// `syncer_tenant_quota_used{tenant,resource}`: what a tenant's super objects use of a
    /// limited resource (cores, bytes or objects).
    pub quota_used: GaugeVec,
    /// `syncer_tenant_quota_hard{tenant,resource}`: a tenant's limit of a resource.
    pub quota_hard: GaugeVec,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Finer than [`LATENCY_BUCKETS`] and longer: p50/p99 are read from these by the benchmarks.
const WRITE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048,
    4.096, 8.192, 16.384, 32.768, 65.536,
];

impl Metrics {
    /// Creates and registers every metric in a fresh registry.
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let m = Metrics {
            queue_depth: IntGaugeVec::new(
                Opts::new(
                    "syncer_queue_depth",
                    "Work items waiting, per tenant and direction.",
                ),
                &["tenant", "direction"],
            )?,
            queue_wait: HistogramVec::new(
                HistogramOpts::new(
                    "syncer_queue_wait_seconds",
                    "Time a work item waited in its tenant's queue.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["tenant", "direction"],
            )?,
            sync_latency: HistogramVec::new(
                HistogramOpts::new(
                    "syncer_sync_duration_seconds",
                    "Time to reconcile one work item.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["tenant", "direction", "resource"],
            )?,
            write_latency: HistogramVec::new(
                HistogramOpts::new(
                    "syncer_write_latency_seconds",
                    "Time from a change being seen to the write carrying it acknowledged.",
                )
                .buckets(WRITE_BUCKETS.to_vec()),
                &["tenant", "direction", "resource"],
            )?,
            operations: IntCounterVec::new(
                Opts::new("syncer_operations_total", "Reconciles by result."),
                &["tenant", "direction", "resource", "result"],
            )?,
            tenants: IntGauge::new("syncer_tenants", "Tenants known to the syncer.")?,
            tenant_healthy: IntGaugeVec::new(
                Opts::new(
                    "syncer_tenant_healthy",
                    "1 when the tenant's caches are synced and its API server answers.",
                ),
                &["tenant"],
            )?,
            patrol_repairs: IntCounterVec::new(
                Opts::new(
                    "syncer_patrol_repairs_total",
                    "Drift found by the patroller, by action.",
                ),
                &["tenant", "resource", "action"],
            )?,
            patrol_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "syncer_patrol_duration_seconds",
                    "Time of one full patrol scan.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            virtual_nodes: IntGaugeVec::new(
                Opts::new("syncer_virtual_nodes", "Virtual nodes per tenant."),
                &["tenant"],
            )?,
            lease_round: Histogram::with_opts(
                HistogramOpts::new(
                    "syncer_lease_round_seconds",
                    "Time of one tenant's round of virtual node Lease renewals.",
                )
                .buckets(WRITE_BUCKETS.to_vec()),
            )?,
            token_requests: IntCounterVec::new(
                Opts::new(
                    "syncer_token_requests_total",
                    "Service-account tokens requested from tenants, by result.",
                ),
                &["tenant", "result"],
            )?,
            policy_refusals: IntCounterVec::new(
                Opts::new(
                    "syncer_policy_refusals_total",
                    "Tenant objects refused by the VirtualCluster's isolation profile, by rule.",
                ),
                &["tenant", "rule"],
            )?,
            quota_used: GaugeVec::new(
                Opts::new(
                    "syncer_tenant_quota_used",
                    "What a tenant's super objects use of a resource its quota limits.",
                ),
                &["tenant", "resource"],
            )?,
            quota_hard: GaugeVec::new(
                Opts::new(
                    "syncer_tenant_quota_hard",
                    "A tenant's quota limit of a resource.",
                ),
                &["tenant", "resource"],
            )?,
            registry,
        };
        m.registry.register(Box::new(m.queue_depth.clone()))?;
        m.registry.register(Box::new(m.queue_wait.clone()))?;
        m.registry.register(Box::new(m.write_latency.clone()))?;
        m.registry.register(Box::new(m.sync_latency.clone()))?;
        m.registry.register(Box::new(m.operations.clone()))?;
        m.registry.register(Box::new(m.tenants.clone()))?;
        m.registry.register(Box::new(m.tenant_healthy.clone()))?;
        m.registry.register(Box::new(m.patrol_repairs.clone()))?;
        m.registry.register(Box::new(m.patrol_duration.clone()))?;
        m.registry.register(Box::new(m.virtual_nodes.clone()))?;
        m.registry.register(Box::new(m.lease_round.clone()))?;
        m.registry.register(Box::new(m.token_requests.clone()))?;
        m.registry.register(Box::new(m.policy_refusals.clone()))?;
        m.registry.register(Box::new(m.quota_used.clone()))?;
        m.registry.register(Box::new(m.quota_hard.clone()))?;
        Ok(m)
    }

    /// Drops every series labelled with `tenant` (after the tenant is removed).
    pub fn forget_tenant(&self, tenant: &str) {
        forget(&self.queue_depth, tenant);
        forget(&self.queue_wait, tenant);
        forget(&self.sync_latency, tenant);
        forget(&self.operations, tenant);
        forget(&self.tenant_healthy, tenant);
        forget(&self.patrol_repairs, tenant);
        forget(&self.virtual_nodes, tenant);
        forget(&self.token_requests, tenant);
        forget(&self.policy_refusals, tenant);
        forget(&self.quota_used, tenant);
        forget(&self.quota_hard, tenant);
    }

    /// The registry's content in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = String::new();
        let encoder = prometheus::TextEncoder::new();
        if encoder
            .encode_utf8(&self.registry.gather(), &mut buf)
            .is_err()
        {
            buf.clear();
        }
        buf
    }
}

/// Removes every series of `vec` whose `tenant` label is `tenant`.
fn forget<T: prometheus::core::MetricVecBuilder>(
    vec: &prometheus::core::MetricVec<T>,
    tenant: &str,
) {
    use prometheus::core::Collector;
    for family in vec.collect() {
        for metric in family.get_metric() {
            let labels: HashMap<&str, &str> = metric
                .get_label()
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            if labels.get("tenant") == Some(&tenant) {
                let _ = vec.remove(&labels);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_a_tenant_keeps_the_others() {
        let m = Metrics::new().expect("metrics");
        m.queue_depth.with_label_values(&["a", "down"]).set(3);
        m.queue_depth.with_label_values(&["b", "down"]).set(4);
        m.operations
            .with_label_values(&["a", "down", "pods", "created"])
            .inc();
        m.forget_tenant("a");
        let text = m.render();
        assert!(!text.contains("tenant=\"a\""), "{text}");
        assert!(
            text.contains("syncer_queue_depth{direction=\"down\",tenant=\"b\"} 4"),
            "{text}"
        );
    }
}
