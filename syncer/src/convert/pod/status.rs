//! Status both ways (status and readiness gates), the binding to a virtual node, the
//! unschedulable mark, and what the caches keep of pods.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Binding, EphemeralContainer, ObjectReference, Pod, PodCondition, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::update::name_and_image;

pub(super) fn gate_types(pod: &Pod) -> BTreeSet<&str> {
    pod.spec
        .iter()
        .flat_map(|s| s.readiness_gates.iter().flatten())
        .map(|g| g.condition_type.as_str())
        .collect()
}

pub(super) fn conditions(pod: &Pod) -> &[PodCondition] {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
}

/// The tenant pod's status with `PodScheduled=False` (`reason`, `message`), for a pod the
/// syncer does not create in the super cluster; `None` when it already says so.
pub fn unschedulable_status(
    vpod: &Pod,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> Option<PodStatus> {
    let mut status = vpod.status.clone().unwrap_or_default();
    let conds = status.conditions.get_or_insert_default();
    let existing = conds.iter_mut().find(|c| c.type_ == "PodScheduled");
    if let Some(c) = &existing
        && c.status == "False"
        && c.reason.as_deref() == Some(reason)
        && c.message.as_deref() == Some(message)
    {
        return None;
    }
    let cond = PodCondition {
        type_: "PodScheduled".into(),
        status: "False".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
        last_probe_time: None,
        observed_generation: None,
    };
    match existing {
        Some(c) => *c = cond,
        None => conds.push(cond),
    }
    status.phase.get_or_insert_with(|| "Pending".into());
    Some(status)
}

/// The tenant pod's status after copying up the super pod's; readiness-gate conditions stay the
/// tenant's (its controllers own them). `None` when nothing changes.
pub fn status_up(vpod: &Pod, ppod: &Pod) -> Option<PodStatus> {
    let pstatus = ppod.status.as_ref()?;
    let gates = gate_types(vpod);
    let mut status = pstatus.clone();
    let mut conds: Vec<PodCondition> = conditions(ppod)
        .iter()
        .filter(|c| !gates.contains(c.type_.as_str()))
        .cloned()
        .collect();
    conds.extend(
        conditions(vpod)
            .iter()
            .filter(|c| gates.contains(c.type_.as_str()))
            .cloned(),
    );
    status.conditions = (!conds.is_empty()).then_some(conds);
    let current = vpod.status.clone().unwrap_or_default();
    (status != current).then_some(status)
}

/// The super pod's conditions after copying down the tenant's readiness-gate conditions;
/// `None` when they already agree.
pub fn readiness_down(vpod: &Pod, ppod: &Pod) -> Option<Vec<PodCondition>> {
    let gates = gate_types(vpod);
    if gates.is_empty() {
        return None;
    }
    let mut conds: Vec<PodCondition> = conditions(ppod).to_vec();
    let mut changed = false;
    for vc in conditions(vpod)
        .iter()
        .filter(|c| gates.contains(c.type_.as_str()))
    {
        match conds.iter_mut().find(|c| c.type_ == vc.type_) {
            Some(pc)
                if pc.status == vc.status && pc.reason == vc.reason && pc.message == vc.message => {
            }
            Some(pc) => {
                *pc = vc.clone();
                changed = true;
            }
            None => {
                conds.push(vc.clone());
                changed = true;
            }
        }
    }
    changed.then_some(conds)
}

/// The binding of tenant pod `vpod` to virtual node `node`, preconditioned on the pod's uid.
pub fn binding(vpod: &Pod, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: vpod.metadata.name.clone(),
            namespace: vpod.metadata.namespace.clone(),
            uid: vpod.metadata.uid.clone(),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_string()),
            ..ObjectReference::default()
        },
    }
}

/// Keeps only what the syncer needs of a super pod (memory: one of these per pod).
pub fn prune_super(pod: &mut Pod) {
    let m = &mut pod.metadata;
    m.managed_fields = None;
    m.owner_references = None;
    m.generate_name = None;
    m.finalizers = None;
    if let Some(spec) = pod.spec.as_mut() {
        *spec = PodSpec {
            node_name: spec.node_name.take(),
            containers: spec.containers.iter().map(name_and_image).collect(),
            init_containers: spec
                .init_containers
                .as_ref()
                .map(|cs| cs.iter().map(name_and_image).collect()),
            // Followed by `update_for` and `ephemeral_update`: without them every reconcile
            // of a running pod would see them missing and write them again.
            tolerations: spec.tolerations.take(),
            ephemeral_containers: spec.ephemeral_containers.as_ref().map(|cs| {
                cs.iter()
                    .map(|c| EphemeralContainer {
                        name: c.name.clone(),
                        image: c.image.clone(),
                        ..EphemeralContainer::default()
                    })
                    .collect()
            }),
            active_deadline_seconds: spec.active_deadline_seconds,
            readiness_gates: spec.readiness_gates.take(),
            ..PodSpec::default()
        };
    }
}

/// Keeps what the syncer needs of a tenant pod (everything that shapes the super pod).
pub fn prune_tenant(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
}
