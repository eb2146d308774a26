//! What the `bench sync` experiments measured, handed from the runs to the report.

use std::sync::Arc;

use super::super::load::Created;
use super::super::prom::Sample;
use super::super::stats::{Summary, summarize};
use super::super::tracker::{Stamp, Tracker};
use super::super::verify::Convergence;

/// A finished run of pods.
pub(super) struct Run {
    pub(super) tracker: Arc<Tracker>,
    pub(super) created: Created,
    pub(super) wall_s: f64,
    pub(super) cpu: Vec<(String, f64)>,
}

impl Run {
    pub(super) fn latency(&self, from: Stamp, to: Stamp) -> Summary {
        summarize(self.tracker.latencies(from, to, 0..self.tracker.len()))
    }

    pub(super) fn cpu_of(&self, component: &str) -> f64 {
        self.cpu
            .iter()
            .find(|(k, _)| k == component)
            .map_or(0.0, |(_, v)| *v)
    }
}

/// The through-the-syncer run with what the syncer used for it.
pub(super) struct Via {
    pub(super) run: Run,
    pub(super) rss_before: u64,
    pub(super) rss_after: u64,
    pub(super) peak_rss: u64,
    pub(super) metrics_before: Vec<Sample>,
    pub(super) metrics_after: Vec<Sample>,
    pub(super) convergence: Convergence,
}

/// A syncer started with every pod already there, once idle.
pub(super) struct Fresh {
    pub(super) rss: u64,
    pub(super) pods: usize,
}

/// The restart experiment.
pub(super) struct Restart {
    pub(super) pods: usize,
    pub(super) in_flight_at_kill: usize,
    pub(super) serving_s: f64,
    pub(super) converge_s: f64,
    pub(super) convergence: Convergence,
    pub(super) earlier: Convergence,
}
