//! Printers of storage.k8s.io kinds: StorageClasses, CSIDrivers, CSINodes and
//! VolumeAttachments.

use serde_json::{Value, json};

use super::common::*;

/// Upstream's printer for StorageClasses (the default class is marked ` (default)`).
pub fn storage_class() -> Printer {
    let sc = "io.k8s.api.storage.v1.StorageClass";
    Printer {
        columns: vec![
            NAME,
            Col("Provisioner", "string", 0, Doc::Field(sc, "provisioner")),
            Col(
                "ReclaimPolicy",
                "string",
                0,
                Doc::Field(sc, "reclaimPolicy"),
            ),
            Col(
                "VolumeBindingMode",
                "string",
                0,
                Doc::Field(sc, "volumeBindingMode"),
            ),
            Col(
                "AllowVolumeExpansion",
                "string",
                0,
                Doc::Field(sc, "allowVolumeExpansion"),
            ),
            AGE,
        ],
        print: |o, now| {
            let default = [
                "/metadata/annotations/storageclass.kubernetes.io~1is-default-class",
                "/metadata/annotations/storageclass.beta.kubernetes.io~1is-default-class",
            ]
            .iter()
            .any(|p| o.pointer(p).and_then(Value::as_str) == Some("true"));
            let label = if default {
                format!("{} (default)", s(o, "/metadata/name"))
            } else {
                s(o, "/metadata/name").to_owned()
            };
            let or = |ptr: &str, fallback: &'static str| match s(o, ptr) {
                "" => fallback,
                v => v,
            };
            cells([
                label.into(),
                s(o, "/provisioner").into(),
                or("/reclaimPolicy", "Delete").into(),
                or("/volumeBindingMode", "Immediate").into(),
                flag(o, "/allowVolumeExpansion", false),
                created(o, now),
            ])
        },
    }
}

/// Upstream's printer for CSIDrivers.
pub fn csi_driver() -> Printer {
    let spec = "io.k8s.api.storage.v1.CSIDriverSpec";
    Printer {
        columns: vec![
            NAME,
            Col(
                "AttachRequired",
                "boolean",
                0,
                Doc::Field(spec, "attachRequired"),
            ),
            Col(
                "PodInfoOnMount",
                "boolean",
                0,
                Doc::Field(spec, "podInfoOnMount"),
            ),
            Col(
                "StorageCapacity",
                "boolean",
                0,
                Doc::Field(spec, "storageCapacity"),
            ),
            Col(
                "TokenRequests",
                "string",
                0,
                Doc::Field(spec, "tokenRequests"),
            ),
            Col(
                "RequiresRepublish",
                "boolean",
                0,
                Doc::Field(spec, "requiresRepublish"),
            ),
            Col(
                "Modes",
                "string",
                0,
                Doc::Field(spec, "volumeLifecycleModes"),
            ),
            AGE,
        ],
        print: |o, now| {
            // An absent list is `<unset>`; a present (even empty) one lists its audiences.
            let tokens = match o.pointer("/spec/tokenRequests").and_then(Value::as_array) {
                None => "<unset>".to_owned(),
                Some(list) => list
                    .iter()
                    .map(|t| s(t, "/audience"))
                    .collect::<Vec<_>>()
                    .join(","),
            };
            let modes: Vec<&str> = arr(o, "/spec/volumeLifecycleModes")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            cells([
                name(o),
                flag(o, "/spec/attachRequired", true),
                flag(o, "/spec/podInfoOnMount", false),
                flag(o, "/spec/storageCapacity", false),
                tokens.into(),
                flag(o, "/spec/requiresRepublish", false),
                or_none(&modes.join(",")),
                created(o, now),
            ])
        },
    }
}

/// Upstream's printer for CSINodes.
pub fn csi_node() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Drivers",
                "integer",
                0,
                Doc::Text("Drivers indicates the number of CSI drivers registered on the node"),
            ),
            AGE,
        ],
        print: |o, now| cells([name(o), json!(len(o, "/spec/drivers")), created(o, now)]),
    }
}

/// Upstream's printer for VolumeAttachments.
pub fn volume_attachment() -> Printer {
    let spec = "io.k8s.api.storage.v1.VolumeAttachmentSpec";
    Printer {
        columns: vec![
            NAME,
            Col("Attacher", "string/name", 0, Doc::Field(spec, "attacher")),
            Col(
                "PV",
                "string",
                0,
                Doc::Field(
                    "io.k8s.api.storage.v1.VolumeAttachmentSource",
                    "persistentVolumeName",
                ),
            ),
            Col("Node", "string", 0, Doc::Field(spec, "nodeName")),
            Col(
                "Attached",
                "boolean",
                0,
                Doc::Field("io.k8s.api.storage.v1.VolumeAttachmentStatus", "attached"),
            ),
            AGE,
        ],
        print: |o, now| {
            cells([
                name(o),
                s(o, "/spec/attacher").into(),
                s(o, "/spec/source/persistentVolumeName").into(),
                s(o, "/spec/nodeName").into(),
                flag(o, "/status/attached", false),
                created(o, now),
            ])
        },
    }
}
