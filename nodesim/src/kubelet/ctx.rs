//! What the handlers share: the context they run with, and the pod lookup before streaming.

use std::sync::{Arc, Mutex};

use http::{Response, StatusCode};

use super::response::{Body, provider_error, text};
use crate::metrics::Metrics;
use crate::nodes::NodeSetup;
use crate::provider::PodProvider;

/// What the handlers need.
pub struct KubeletCtx {
    /// The provider running the pods.
    pub provider: Arc<dyn PodProvider>,
    /// Our nodes.
    pub nodes: Arc<Mutex<Vec<NodeSetup>>>,
    /// Metrics.
    pub metrics: Metrics,
}

/// Looks up the pod and container as the kubelet does before streaming.
pub(super) async fn locate(
    ctx: &KubeletCtx,
    ns: &str,
    pod: &str,
    uid: Option<&str>,
    container: Option<&str>,
) -> Result<k8s_openapi::api::core::v1::Pod, Response<Body>> {
    let p = match ctx.provider.get_pod(ns, pod).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Err(text(
                StatusCode::NOT_FOUND,
                format!("pod {pod:?} does not exist\n"),
            ));
        }
        Err(e) => return Err(provider_error(&e)),
    };
    if let Some(uid) = uid
        && p.metadata.uid.as_deref() != Some(uid)
    {
        return Err(text(
            StatusCode::NOT_FOUND,
            format!("pod {pod:?} with uid {uid:?} does not exist\n"),
        ));
    }
    if let Some(c) = container {
        let exists = p
            .spec
            .as_ref()
            .is_some_and(|s| s.containers.iter().any(|x| x.name == c));
        if !exists {
            return Err(text(
                StatusCode::NOT_FOUND,
                format!("container not found ({c:?})"),
            ));
        }
    }
    Ok(p)
}
