//! In-process control loops (upstream kube-controller-manager's, for a self-contained cluster).

use std::sync::Arc;

use crate::api::Api;

/// Starts the selected control loops (`*` = all, `-name` disables one).
pub fn start(_api: Arc<Api>, _selection: &[String]) -> Vec<tokio::task::JoinHandle<()>> {
    Vec::new()
}
