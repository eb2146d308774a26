//! Prometheus metrics of vc-manager.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// vc-manager's metrics, registered in their own registry.
pub struct Metrics {
    /// The registry served on `/metrics`.
    pub registry: Registry,
    reconciles: IntCounterVec,
    duration: HistogramVec,
    steps: IntCounterVec,
    phases: IntGaugeVec,
    known: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates and registers the metrics.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new(
                "vc_manager_reconciles_total",
                "VirtualCluster reconciles by result (ok, failed, error)",
            ),
            &["result"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "vc_manager_reconcile_duration_seconds",
                "Duration of one VirtualCluster reconcile",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["result"],
        )?;
        let steps = IntCounterVec::new(
            Opts::new(
                "vc_manager_steps_total",
                "Provisioning steps run, by step and result",
            ),
            &["step", "result"],
        )?;
        let phases = IntGaugeVec::new(
            Opts::new(
                "vc_manager_virtualclusters",
                "VirtualClusters handled by this vc-manager, by phase",
            ),
            &["phase"],
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(steps.clone()))?;
        registry.register(Box::new(phases.clone()))?;
        Ok(Metrics {
            registry,
            reconciles,
            duration,
            steps,
            phases,
            known: Mutex::new(HashMap::new()),
        })
    }

    /// Records one reconcile.
    pub fn reconciled(&self, result: &str, seconds: f64) {
        self.reconciles.with_label_values(&[result]).inc();
        self.duration.with_label_values(&[result]).observe(seconds);
    }

    /// Records one step.
    pub fn step(&self, step: &str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.steps.with_label_values(&[step, result]).inc();
    }

    /// Records the phase of a VirtualCluster (`None` when it is gone).
    pub fn phase(&self, uid: &str, phase: Option<&str>) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        match phase {
            Some(p) => known.insert(uid.to_string(), p.to_string()),
            None => known.remove(uid),
        };
        let mut counts: HashMap<&str, i64> = HashMap::new();
        for p in known.values() {
            *counts.entry(p.as_str()).or_default() += 1;
        }
        for phase in ["Pending", "Provisioning", "Running", "Failed", "Deleting"] {
            self.phases
                .with_label_values(&[phase])
                .set(counts.get(phase).copied().unwrap_or(0));
        }
    }
}
