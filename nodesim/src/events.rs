//! Kubernetes Events as the real scheduler and kubelet write them (`Scheduled`,
//! `FailedScheduling`, `Pulled`, `Created`, `Started`, `Killing`), so `kubectl describe pod` and
//! event watchers (the syncer copies them to tenants) see what they would on a real node.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::sync::Semaphore;

/// Event writes in flight at once; beyond that, recording waits rather than piling up tasks.
const IN_FLIGHT: usize = 32;

/// Who records: `default-scheduler`, or `kubelet` on a node.
#[derive(Clone, Debug)]
pub struct Source {
    /// `source.component` / `reportingComponent`.
    pub component: &'static str,
    /// `source.host` / `reportingInstance` (the node), if any.
    pub host: Option<String>,
}

/// Records events about pods; a disabled recorder writes nothing.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    enabled: bool,
    slots: Arc<Semaphore>,
}

impl Recorder {
    /// A recorder writing through `client` when `enabled`.
    pub fn new(client: Client, enabled: bool) -> Self {
        Self {
            client,
            enabled,
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
        }
    }

    /// Records one event about `pod` in the background.
    pub fn pod(&self, pod: &Pod, source: Source, warning: bool, reason: &str, message: String) {
        if !self.enabled {
            return;
        }
        let ev = pod_event(pod, source, warning, reason, message);
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let client = self.client.clone();
        let slots = self.slots.clone();
        tokio::spawn(async move {
            let Ok(_permit) = slots.acquire_owned().await else {
                return;
            };
            let api: Api<Event> = Api::namespaced(client, &ns);
            if let Err(e) = api.create(&PostParams::default(), &ev).await {
                tracing::debug!(namespace = %ns, error = %e, "could not record event");
            }
        });
    }
}

/// The event object, named like client-go's recorder (`<object>.<hex nanoseconds>`).
fn pod_event(pod: &Pod, source: Source, warning: bool, reason: &str, message: String) -> Event {
    let now = jiff::Timestamp::now();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let nanos = u64::try_from(now.as_nanosecond()).unwrap_or_default();
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{nanos:x}")),
            namespace: pod.metadata.namespace.clone(),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(name),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(),
            resource_version: pod.metadata.resource_version.clone(),
            ..ObjectReference::default()
        },
        reason: Some(reason.into()),
        message: Some(message),
        type_: Some(if warning { "Warning" } else { "Normal" }.into()),
        source: Some(EventSource {
            component: Some(source.component.into()),
            host: source.host.clone(),
        }),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: None::<MicroTime>,
        count: Some(1),
        reporting_component: Some(source.component.into()),
        reporting_instance: Some(source.host.unwrap_or_else(|| source.component.into())),
        ..Event::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_and_reference_their_pod() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("u1".into()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        };
        let src = Source {
            component: "kubelet",
            host: Some("node-1".into()),
        };
        let ev = pod_event(&pod, src, false, "Started", "Started container c".into());
        assert!(
            ev.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("web."))
        );
        assert_eq!(ev.involved_object.uid.as_deref(), Some("u1"));
        assert_eq!(ev.type_.as_deref(), Some("Normal"));
        assert_eq!(ev.reporting_instance.as_deref(), Some("node-1"));
        assert_eq!(ev.source.and_then(|s| s.host).as_deref(), Some("node-1"));
    }
}
