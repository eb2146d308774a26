//! The changes that can follow a running super pod: labels, annotations, images,
//! activeDeadlineSeconds, added tolerations and debug containers.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, EphemeralContainer, Pod, PodSpec, Toleration};

use super::scheduling::placed_tolerations;
use super::validate::check_policy;
use crate::convert::{ConvertError, TenantCtx, kv, placement, super_meta};

/// What to change on an existing super pod: only the fields Kubernetes lets change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodUpdate {
    /// New labels, when they differ.
    pub labels: Option<BTreeMap<String, String>>,
    /// New annotations, when they differ.
    pub annotations: Option<BTreeMap<String, String>>,
    /// `(index, container name, image)` of app containers whose image changes.
    pub images: Vec<(usize, String, String)>,
    /// `(index, container name, image)` of init containers whose image changes.
    pub init_images: Vec<(usize, String, String)>,
    /// New activeDeadlineSeconds, when it differs (`Some(None)` clears it).
    pub active_deadline_seconds: Option<Option<i64>>,
    /// Tolerations the tenant added to the running pod.
    pub tolerations: Vec<Toleration>,
    /// Whether the super pod has no tolerations list yet.
    pub tolerations_absent: bool,
}

impl PodUpdate {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == PodUpdate::default()
    }

    /// The update as a JSON Patch (RFC 6902) guarded by `test` operations on the uid and on each
    /// container's name, so it applies only to the object it was computed for.
    pub fn to_json_patch(&self, uid: &str) -> serde_json::Value {
        use serde_json::json;
        let mut ops = vec![json!({"op": "test", "path": "/metadata/uid", "value": uid})];
        if let Some(l) = &self.labels {
            ops.push(json!({"op": "add", "path": "/metadata/labels", "value": l}));
        }
        if let Some(a) = &self.annotations {
            ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": a}));
        }
        for (list, changes) in [
            ("containers", &self.images),
            ("initContainers", &self.init_images),
        ] {
            for (i, name, image) in changes {
                ops.push(
                    json!({"op": "test", "path": format!("/spec/{list}/{i}/name"), "value": name}),
                );
                ops.push(json!({"op": "replace", "path": format!("/spec/{list}/{i}/image"), "value": image}));
            }
        }
        if !self.tolerations.is_empty() {
            if self.tolerations_absent {
                ops.push(
                    json!({"op": "add", "path": "/spec/tolerations", "value": self.tolerations}),
                );
            } else {
                for t in &self.tolerations {
                    ops.push(json!({"op": "add", "path": "/spec/tolerations/-", "value": t}));
                }
            }
        }
        match self.active_deadline_seconds {
            Some(Some(v)) => {
                ops.push(json!({"op": "add", "path": "/spec/activeDeadlineSeconds", "value": v}))
            }
            Some(None) => ops.push(json!({"op": "remove", "path": "/spec/activeDeadlineSeconds"})),
            None => {}
        }
        serde_json::Value::Array(ops)
    }
}

/// A container reduced to what can change on a running pod (and what the cache keeps).
pub(super) fn name_and_image(c: &Container) -> Container {
    Container {
        name: c.name.clone(),
        image: c.image.clone(),
        ..Container::default()
    }
}

/// The update that brings super pod `ppod` in line with tenant pod `vpod`, computed from the
/// mutable fields only (cheaper than building the whole desired pod).
pub fn update_for(ctx: &TenantCtx, vpod: &Pod, ppod: &Pod) -> Result<PodUpdate, ConvertError> {
    let meta = super_meta(ctx, &vpod.metadata, Some(&ppod.metadata))?;
    let tolerations = vpod.spec.as_ref().and_then(|s| s.tolerations.clone());
    // A toleration added to a running pod passes the same gate as one set at creation.
    placement::check_tolerations(&ctx.placement, tolerations.as_deref().unwrap_or_default())?;
    let desired = Pod {
        metadata: meta,
        // Only names and images can change on a running pod; copying whole containers (env,
        // volumes, probes) for every no-op reconcile was wasted work.
        spec: vpod.spec.as_ref().map(|s| {
            let slim =
                |cs: &[Container]| -> Vec<Container> { cs.iter().map(name_and_image).collect() };
            PodSpec {
                containers: slim(&s.containers),
                init_containers: s.init_containers.as_deref().map(slim),
                active_deadline_seconds: s.active_deadline_seconds,
                tolerations: Some(placed_tolerations(ctx, tolerations)),
                ..PodSpec::default()
            }
        }),
        status: None,
    };
    Ok(diff(&desired, ppod))
}

/// Ephemeral containers the tenant added to a running pod (`kubectl debug`) that its super
/// copy lacks, after the same Pod Security check as at creation; `None` when there are none.
pub fn ephemeral_update(
    ctx: &TenantCtx,
    vpod: &Pod,
    ppod: &Pod,
) -> Result<Option<Vec<EphemeralContainer>>, ConvertError> {
    let Some(vspec) = vpod.spec.as_ref() else {
        return Ok(None);
    };
    let existing: BTreeSet<&str> = ppod
        .spec
        .iter()
        .flat_map(|s| s.ephemeral_containers.iter().flatten())
        .map(|c| c.name.as_str())
        .collect();
    let added: Vec<EphemeralContainer> = vspec
        .ephemeral_containers
        .iter()
        .flatten()
        .filter(|c| !existing.contains(c.name.as_str()))
        .cloned()
        .collect();
    if added.is_empty() {
        return Ok(None);
    }
    check_policy(ctx, vpod, vspec)?;
    Ok(Some(added))
}

pub(super) fn image_changes(
    desired: &[Container],
    existing: &[Container],
) -> Vec<(usize, String, String)> {
    existing
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let d = desired.iter().find(|d| d.name == e.name)?;
            (d.image != e.image).then(|| (i, e.name.clone(), d.image.clone().unwrap_or_default()))
        })
        .collect()
}

/// The update that brings `existing` to `desired` (images, activeDeadlineSeconds, labels,
/// annotations); empty when they agree.
pub fn diff(desired: &Pod, existing: &Pod) -> PodUpdate {
    let mut u = PodUpdate::default();
    if kv(&desired.metadata.labels) != kv(&existing.metadata.labels) {
        u.labels = Some(kv(&desired.metadata.labels));
    }
    if kv(&desired.metadata.annotations) != kv(&existing.metadata.annotations) {
        u.annotations = Some(kv(&desired.metadata.annotations));
    }
    let (Some(d), Some(e)) = (desired.spec.as_ref(), existing.spec.as_ref()) else {
        return u;
    };
    u.images = image_changes(&d.containers, &e.containers);
    u.init_images = image_changes(
        d.init_containers.as_deref().unwrap_or_default(),
        e.init_containers.as_deref().unwrap_or_default(),
    );
    if d.active_deadline_seconds != e.active_deadline_seconds {
        u.active_deadline_seconds = Some(d.active_deadline_seconds);
    }
    u.tolerations = placement::added_tolerations(
        d.tolerations.as_deref().unwrap_or_default(),
        e.tolerations.as_deref().unwrap_or_default(),
    );
    u.tolerations_absent = !u.tolerations.is_empty() && e.tolerations.is_none();
    u
}
