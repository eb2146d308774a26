//! Shared state of the controller: clients, provisioners, timings, and failure counts per
//! VirtualCluster.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crds::{Provisioner, VirtualCluster};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};

use crate::events::Note;
use crate::metrics::Metrics;
use crate::provisioner::Provisioners;
use crate::state::Timings;

/// Shared state of the controller.
pub struct Context {
    /// Client of the super cluster.
    pub client: Client,
    /// Publishes events on VirtualClusters.
    pub recorder: Recorder,
    /// The provisioners.
    pub provisioners: Provisioners,
    /// Provisioner of VCs that name none.
    pub default_provisioner: Provisioner,
    /// Timings of the state machine.
    pub timings: Timings,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A controller context.
    pub fn new(
        client: Client,
        recorder: Recorder,
        provisioners: Provisioners,
        default_provisioner: Provisioner,
        timings: Timings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Context {
            client,
            recorder,
            provisioners,
            default_provisioner,
            timings,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The key of `vc` in the failure counts and metrics (its UID).
    pub(super) fn uid(vc: &VirtualCluster) -> String {
        vc.metadata.uid.clone().unwrap_or_default()
    }

    /// Consecutive failed reconciles of `vc`.
    pub fn failures(&self, vc: &VirtualCluster) -> u32 {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&Self::uid(vc))
            .copied()
            .unwrap_or(0)
    }

    /// Records the outcome of a reconcile of `vc`; returns its consecutive failures.
    pub(super) fn count_failure(&self, vc: &VirtualCluster, failed: bool) -> u32 {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failed {
            let n = map.entry(Self::uid(vc)).or_insert(0);
            *n = n.saturating_add(1);
            *n
        } else {
            map.remove(&Self::uid(vc));
            0
        }
    }

    /// Publishes `note` as an event on `vc`; a failure is only logged.
    pub(super) async fn publish(&self, vc: &VirtualCluster, note: &Note, action: &str) {
        let event = Event {
            type_: if note.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: note.reason.clone(),
            note: Some(truncate(&note.message, 1000)),
            action: action.to_string(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &vc.object_ref(&())).await {
            tracing::warn!(vc = %vc.name_any(), error = %e, "cannot publish event");
        }
    }
}

/// `s` cut to at most `max` bytes (on a character boundary), marked with an ellipsis.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
