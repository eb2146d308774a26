//! Events: super events about synced pods and services, rewritten to the tenant object.

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Kinds whose super events are copied up.
pub const UPWARD_KINDS: [&str; 2] = ["Pod", "Service"];

/// The tenant copy of super event `pev` about tenant object `vref` (kind, namespace, name, uid).
pub fn up(pev: &Event, vref: &ObjectReference) -> Event {
    let mut involved = pev.involved_object.clone();
    involved.namespace = vref.namespace.clone();
    involved.name = vref.name.clone();
    involved.uid = vref.uid.clone();
    involved.resource_version = None;
    Event {
        metadata: ObjectMeta {
            name: pev.metadata.name.clone(),
            namespace: vref.namespace.clone(),
            ..ObjectMeta::default()
        },
        involved_object: involved,
        action: pev.action.clone(),
        count: pev.count,
        event_time: pev.event_time.clone(),
        first_timestamp: pev.first_timestamp.clone(),
        last_timestamp: pev.last_timestamp.clone(),
        message: pev.message.as_deref().map(|m| tenant_message(m, pev, vref)),
        reason: pev.reason.clone(),
        related: None,
        reporting_component: pev.reporting_component.clone(),
        reporting_instance: pev.reporting_instance.clone(),
        series: pev.series.clone(),
        source: pev.source.clone(),
        type_: pev.type_.clone(),
    }
}

/// The message with the super namespace of the object (as in `Successfully assigned
/// <super-ns>/web to node-1`) replaced by the tenant's, so tenants see their own names.
fn tenant_message(message: &str, pev: &Event, vref: &ObjectReference) -> String {
    match (
        pev.involved_object.namespace.as_deref(),
        vref.namespace.as_deref(),
    ) {
        (Some(from), Some(to)) if !from.is_empty() && from != to => {
            message.replace(&format!("{from}/"), &format!("{to}/"))
        }
        _ => message.to_string(),
    }
}

/// Whether the tenant copy `vev` differs from what `up` gives (count, message, timestamps).
pub fn changed(desired: &Event, vev: &Event) -> bool {
    desired.count != vev.count
        || desired.message != vev.message
        || desired.last_timestamp != vev.last_timestamp
        || desired.series != vev.series
}

/// A Warning event about a tenant object that could not be synced.
pub fn warning(
    involved: ObjectReference,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> Event {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let name = format!(
        "{}.{:x}",
        involved.name.clone().unwrap_or_default(),
        now.as_nanosecond()
    );
    Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: involved.namespace.clone(),
            ..ObjectMeta::default()
        },
        involved_object: involved,
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some("Warning".into()),
        count: Some(1),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        source: Some(k8s_openapi::api::core::v1::EventSource {
            component: Some("vc-syncer".into()),
            host: None,
        }),
        reporting_component: Some("vc-syncer".into()),
        reporting_instance: Some("vc-syncer".into()),
        ..Event::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_involved_object_to_the_tenant() {
        let pev = Event {
            metadata: ObjectMeta {
                name: Some("web.17a".into()),
                namespace: Some("key-default".into()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                namespace: Some("key-default".into()),
                name: Some("web".into()),
                uid: Some("super-uid".into()),
                resource_version: Some("9".into()),
                ..ObjectReference::default()
            },
            reason: Some("Pulled".into()),
            message: Some("Successfully assigned key-default/web to node-1".into()),
            count: Some(2),
            ..Event::default()
        };
        let vref = ObjectReference {
            namespace: Some("default".into()),
            name: Some("web".into()),
            uid: Some("tenant-uid".into()),
            ..ObjectReference::default()
        };
        let v = up(&pev, &vref);
        assert_eq!(v.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(v.involved_object.uid.as_deref(), Some("tenant-uid"));
        assert_eq!(v.involved_object.namespace.as_deref(), Some("default"));
        assert_eq!(v.involved_object.resource_version, None);
        assert_eq!(v.reason.as_deref(), Some("Pulled"));
        assert_eq!(
            v.message.as_deref(),
            Some("Successfully assigned default/web to node-1")
        );
        assert!(!changed(&v, &v.clone()));
    }
}
