//! What the `bench sync` experiments measured, handed from the runs to the report.

use std::sync::Arc;

use super::super::load::Created;
use super::super::prom::Sample;
use super::super::stats::{Summary, summarize};
use super::super::tracker::{Stamp, Tracker};
use super::super::verify::Convergence;

/// A finished run of pods.
pub(crate) struct Run {
    pub(crate) tracker: Arc<Tracker>,
    pub(crate) created: Created,
    pub(crate) wall_s: f64,
    pub(crate) cpu: Vec<(String, f64)>,
}

impl Run {
    pub(crate) fn latency(&self, from: Stamp, to: Stamp) -> Summary {
        summarize(self.tracker.latencies(from, to, 0..self.tracker.len()))
    }

    pub(crate) fn cpu_of(&self, component: &str) -> f64 {
        self.cpu
            .iter()
            .find(|(k, _)| k == component)
            .map_or(0.0, |(_, v)| *v)
    }
}

/// The through-the-syncer run with what the syncer used for it.
pub(crate) struct Via {
    pub(crate) run: Run,
    pub(crate) rss_before: u64,
    pub(crate) rss_after: u64,
    pub(crate) peak_rss: u64,
    pub(crate) metrics_before: Vec<Sample>,
    pub(crate) metrics_after: Vec<Sample>,
    pub(crate) convergence: Convergence,
}

/// A syncer started with every pod already there, once idle.
pub(crate) struct Fresh {
    pub(crate) rss: u64,
    pub(crate) pods: usize,
}

/// The restart experiment.
pub(crate) struct Restart {
    pub(crate) pods: usize,
    pub(crate) in_flight_at_kill: usize,
    pub(crate) serving_s: f64,
    pub(crate) converge_s: f64,
    pub(crate) convergence: Convergence,
    pub(crate) earlier: Convergence,
}
