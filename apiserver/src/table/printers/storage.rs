//! Printers of persistent volumes, claims, and events.

use serde_json::{Value, json};

use super::common::*;
use crate::table::format::age;

/// Upstream's printer for PersistentVolumes.
pub fn persistent_volume() -> Printer {
    Printer {
        columns: pv_columns(),
        print: print_pv,
    }
}

/// Upstream's printer for PersistentVolumeClaims.
pub fn persistent_volume_claim() -> Printer {
    Printer {
        columns: pvc_columns(),
        print: print_pvc,
    }
}

/// Upstream's printer for Events (core/v1 and events.k8s.io/v1).
pub fn event() -> Printer {
    Printer {
        columns: event_columns(),
        print: print_event,
    }
}

fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(long, _)| has(long))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

fn storage_class(o: &Value) -> String {
    match o
        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .and_then(Value::as_str)
    {
        Some(class) => class.to_owned(),
        None => s(o, "/spec/storageClassName").to_owned(),
    }
}

fn unset(o: &Value, ptr: &str) -> Value {
    match o.pointer(ptr).and_then(Value::as_str) {
        Some(v) if !v.is_empty() => v.into(),
        _ => "<unset>".into(),
    }
}

fn pv_columns() -> Vec<Col> {
    let spec = "io.k8s.api.core.v1.PersistentVolumeSpec";
    vec![
        NAME,
        Col("Capacity", "string", 0, Doc::Field(spec, "capacity")),
        Col("Access Modes", "string", 0, Doc::Field(spec, "accessModes")),
        Col(
            "Reclaim Policy",
            "string",
            0,
            Doc::Field(spec, "persistentVolumeReclaimPolicy"),
        ),
        Col(
            "Status",
            "string",
            0,
            Doc::Field("io.k8s.api.core.v1.PersistentVolumeStatus", "phase"),
        ),
        Col("Claim", "string", 0, Doc::Field(spec, "claimRef")),
        Col(
            "StorageClass",
            "string",
            0,
            Doc::Text("StorageClass of the pv"),
        ),
        Col(
            "VolumeAttributesClass",
            "string",
            0,
            Doc::Text("VolumeAttributesClass of the pv"),
        ),
        Col(
            "Reason",
            "string",
            0,
            Doc::Field("io.k8s.api.core.v1.PersistentVolumeStatus", "reason"),
        ),
        AGE,
        Col("VolumeMode", "string", 1, Doc::Field(spec, "volumeMode")),
    ]
}

fn print_pv(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let claim = match o.pointer("/spec/claimRef") {
        Some(c) => format!("{}/{}", s(c, "/namespace"), s(c, "/name")),
        None => String::new(),
    };
    let phase = if o.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else {
        s(o, "/status/phase")
    };
    (
        vec![
            name(o),
            s(o, "/spec/capacity/storage").into(),
            access_modes(arr(o, "/spec/accessModes")).into(),
            s(o, "/spec/persistentVolumeReclaimPolicy").into(),
            phase.into(),
            claim.into(),
            storage_class(o).into(),
            unset(o, "/spec/volumeAttributesClassName"),
            s(o, "/status/reason").into(),
            created(o, now),
            unset(o, "/spec/volumeMode"),
        ],
        None,
    )
}

fn pvc_columns() -> Vec<Col> {
    let spec = "io.k8s.api.core.v1.PersistentVolumeClaimSpec";
    let status = "io.k8s.api.core.v1.PersistentVolumeClaimStatus";
    vec![
        NAME,
        Col("Status", "string", 0, Doc::Field(status, "phase")),
        Col("Volume", "string", 0, Doc::Field(spec, "volumeName")),
        Col("Capacity", "string", 0, Doc::Field(status, "capacity")),
        Col(
            "Access Modes",
            "string",
            0,
            Doc::Field(status, "accessModes"),
        ),
        Col(
            "StorageClass",
            "string",
            0,
            Doc::Text("StorageClass of the pvc"),
        ),
        Col(
            "VolumeAttributesClass",
            "string",
            0,
            Doc::Text("VolumeAttributesClass of the pvc"),
        ),
        AGE,
        Col("VolumeMode", "string", 1, Doc::Field(spec, "volumeMode")),
    ]
}

fn print_pvc(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let phase = if o.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else {
        s(o, "/status/phase")
    };
    let bound = !s(o, "/spec/volumeName").is_empty();
    let (capacity, modes) = if bound {
        (
            s(o, "/status/capacity/storage").to_owned(),
            access_modes(arr(o, "/status/accessModes")),
        )
    } else {
        (String::new(), String::new())
    };
    (
        vec![
            name(o),
            phase.into(),
            s(o, "/spec/volumeName").into(),
            capacity.into(),
            modes.into(),
            storage_class(o).into(),
            unset(o, "/spec/volumeAttributesClassName"),
            created(o, now),
            unset(o, "/spec/volumeMode"),
        ],
        None,
    )
}

fn event_columns() -> Vec<Col> {
    let ev = "io.k8s.api.core.v1.Event";
    vec![
        Col("Last Seen", "string", 0, Doc::Field(ev, "lastTimestamp")),
        Col("Type", "string", 0, Doc::Field(ev, "type")),
        Col("Reason", "string", 0, Doc::Field(ev, "reason")),
        Col("Object", "string", 0, Doc::Field(ev, "involvedObject")),
        Col(
            "Subobject",
            "string",
            1,
            Doc::Field("io.k8s.api.core.v1.ObjectReference", "fieldPath"),
        ),
        Col("Source", "string", 1, Doc::Field(ev, "source")),
        Col("Message", "string", 0, Doc::Field(ev, "message")),
        Col("First Seen", "string", 1, Doc::Field(ev, "firstTimestamp")),
        Col("Count", "string", 1, Doc::Field(ev, "count")),
        Col("Name", "string", 1, Doc::Field(META, "name")),
    ]
}

/// Prints core/v1 and events.k8s.io/v1 events (the latter through their deprecated fields).
fn print_event(o: &Value, now: jiff::Timestamp) -> (Vec<Value>, Option<Value>) {
    let pick = |core: &str, events: &str| {
        o.pointer(core)
            .filter(|v| !v.is_null())
            .or_else(|| o.pointer(events))
    };
    let ts = |v: Option<&Value>| match v.and_then(Value::as_str) {
        Some(t) if !t.is_empty() => Some(age(v, now)),
        _ => None,
    };
    let first = ts(pick("/firstTimestamp", "/deprecatedFirstTimestamp"))
        .unwrap_or_else(|| age(o.get("eventTime"), now));
    let mut last = ts(pick("/lastTimestamp", "/deprecatedLastTimestamp")).unwrap_or(first.clone());
    let mut count = pick("/count", "/deprecatedCount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(series) = o.get("series").filter(|v| v.is_object()) {
        last = age(series.get("lastObservedTime"), now);
        count = n(series, "/count");
    } else if count == 0 {
        count = 1;
    }
    let involved = pick("/involvedObject", "/regarding")
        .cloned()
        .unwrap_or_default();
    let kind = s(&involved, "/kind").to_lowercase();
    let target = match s(&involved, "/name") {
        "" => kind,
        obj => format!("{kind}/{obj}"),
    };
    let component = pick("/source/component", "/deprecatedSource/component")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let source = if component.is_empty() {
        join_instance(
            [s(o, "/reportingComponent"), s(o, "/reportingController")]
                .into_iter()
                .find(|v| !v.is_empty())
                .unwrap_or_default(),
            s(o, "/reportingInstance"),
        )
    } else {
        let host = pick("/source/host", "/deprecatedSource/host")
            .and_then(Value::as_str)
            .unwrap_or_default();
        join_instance(component, host)
    };
    let message = pick("/message", "/note")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    (
        vec![
            last.into(),
            s(o, "/type").into(),
            s(o, "/reason").into(),
            target.into(),
            s(&involved, "/fieldPath").into(),
            source.into(),
            message.into(),
            first.into(),
            json!(count),
            name(o),
        ],
        None,
    )
}

fn join_instance(component: &str, instance: &str) -> String {
    if instance.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {instance}")
    }
}
