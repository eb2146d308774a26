//! Per-kind behaviour: typed decoding, defaulting, validation and admission, as upstream's
//! registry strategies and admission plugins do it.

pub mod crd;
pub mod endpoints;
pub mod event;
pub mod misc;
pub mod names;
pub mod namespace;
pub mod pod;
pub mod service;
pub mod workload;

use serde_json::Value;

use crate::api::Api;
use crate::auth::User;
use crate::error::{ApiError, ApiResult, Cause};
use crate::registry::ResourceDef;

/// What a kind hook may look at.
pub struct Ctx<'a> {
    /// The server.
    pub api: &'a Api,
    /// The resource being written.
    pub def: &'a ResourceDef,
    /// Who writes.
    pub user: &'a User,
    /// Whether this is a dry run (no allocations may stick).
    pub dry_run: bool,
}

macro_rules! typed {
    ($obj:expr, $def:expr, $t:ty) => {{
        let v: $t = serde_json::from_value($obj).map_err(|e| decode_error($def, &e.to_string()))?;
        serde_json::to_value(&v).map_err(|e| ApiError::internal(e.to_string()))
    }};
}

/// Decodes a built-in object through its typed definition (rejecting wrong types as upstream's
/// decoder does, dropping unknown fields) and returns its normalized JSON.
pub fn decode_typed(def: &ResourceDef, obj: Value) -> ApiResult<Value> {
    use k8s_openapi::api::{
        apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch,
        coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
        networking::v1 as networking, node::v1 as node, policy::v1 as policy, rbac::v1 as rbac,
        scheduling::v1 as scheduling, storage::v1 as storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
    if def.crd.is_some() {
        return Ok(obj);
    }
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "ConfigMap") => typed!(obj, def, core::ConfigMap),
        ("", "Endpoints") => typed!(obj, def, core::Endpoints),
        ("", "Event") => typed!(obj, def, core::Event),
        ("", "LimitRange") => typed!(obj, def, core::LimitRange),
        ("", "Namespace") => typed!(obj, def, core::Namespace),
        ("", "Node") => typed!(obj, def, core::Node),
        ("", "PersistentVolumeClaim") => typed!(obj, def, core::PersistentVolumeClaim),
        ("", "PersistentVolume") => typed!(obj, def, core::PersistentVolume),
        ("", "Pod") => typed!(obj, def, core::Pod),
        ("", "PodTemplate") => typed!(obj, def, core::PodTemplate),
        ("", "ReplicationController") => typed!(obj, def, core::ReplicationController),
        ("", "ResourceQuota") => typed!(obj, def, core::ResourceQuota),
        ("", "Secret") => typed!(obj, def, core::Secret),
        ("", "ServiceAccount") => typed!(obj, def, core::ServiceAccount),
        ("", "Service") => typed!(obj, def, core::Service),
        ("apps", "ControllerRevision") => typed!(obj, def, apps::ControllerRevision),
        ("apps", "DaemonSet") => typed!(obj, def, apps::DaemonSet),
        ("apps", "Deployment") => typed!(obj, def, apps::Deployment),
        ("apps", "ReplicaSet") => typed!(obj, def, apps::ReplicaSet),
        ("apps", "StatefulSet") => typed!(obj, def, apps::StatefulSet),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            typed!(obj, def, autoscaling::HorizontalPodAutoscaler)
        }
        ("batch", "CronJob") => typed!(obj, def, batch::CronJob),
        ("batch", "Job") => typed!(obj, def, batch::Job),
        ("coordination.k8s.io", "Lease") => typed!(obj, def, coordination::Lease),
        ("discovery.k8s.io", "EndpointSlice") => typed!(obj, def, discovery::EndpointSlice),
        ("events.k8s.io", "Event") => typed!(obj, def, k8s_openapi::api::events::v1::Event),
        ("networking.k8s.io", "IngressClass") => typed!(obj, def, networking::IngressClass),
        ("networking.k8s.io", "Ingress") => typed!(obj, def, networking::Ingress),
        ("networking.k8s.io", "NetworkPolicy") => typed!(obj, def, networking::NetworkPolicy),
        ("node.k8s.io", "RuntimeClass") => typed!(obj, def, node::RuntimeClass),
        ("policy", "PodDisruptionBudget") => typed!(obj, def, policy::PodDisruptionBudget),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            typed!(obj, def, rbac::ClusterRoleBinding)
        }
        ("rbac.authorization.k8s.io", "ClusterRole") => typed!(obj, def, rbac::ClusterRole),
        ("rbac.authorization.k8s.io", "RoleBinding") => typed!(obj, def, rbac::RoleBinding),
        ("rbac.authorization.k8s.io", "Role") => typed!(obj, def, rbac::Role),
        ("scheduling.k8s.io", "PriorityClass") => typed!(obj, def, scheduling::PriorityClass),
        ("storage.k8s.io", "CSIDriver") => typed!(obj, def, storage::CSIDriver),
        ("storage.k8s.io", "CSINode") => typed!(obj, def, storage::CSINode),
        ("storage.k8s.io", "StorageClass") => typed!(obj, def, storage::StorageClass),
        ("storage.k8s.io", "VolumeAttachment") => typed!(obj, def, storage::VolumeAttachment),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            typed!(obj, def, apiext::CustomResourceDefinition)
        }
        _ => Ok(obj),
    }
}

fn decode_error(def: &ResourceDef, msg: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{} in version {:?} cannot be handled as a {}: {}",
        def.kind, def.version, def.kind, msg
    ))
}

/// Applies the kind's defaults (idempotent; also used on updates, as upstream defaults every
/// decoded object).
pub fn apply_defaults(def: &ResourceDef, obj: &mut Value) {
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => pod::defaults(obj),
        ("", "Service") => service::defaults(obj),
        ("", "Namespace") => namespace::defaults(obj),
        ("apps", _) | ("batch", _) | ("", "ReplicationController") | ("", "PodTemplate") => {
            workload::defaults(&def.kind, obj)
        }
        _ => misc::defaults(&def.group, &def.kind, obj),
    }
}

/// Who writes an object, for the few checks the server's own writers are exempt from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An API request: every check applies.
    Client,
    /// The server itself (bootstrap objects, control loops): endpoint addresses are not
    /// checked, so the `kubernetes` endpoints of a server on a loopback address, and pods
    /// whose IP is a node's loopback address, still get endpoints.
    Server,
}

/// Validation of a new or updated object (upstream's strategy Validate/ValidateUpdate).
pub fn validate(def: &ResourceDef, old: Option<&Value>, new: &Value, origin: Origin) -> Vec<Cause> {
    let mut causes = Vec::new();
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => causes.extend(pod::validate(old, new)),
        ("", "Endpoints") if origin == Origin::Client => {
            causes.extend(endpoints::validate_endpoints(new))
        }
        ("discovery.k8s.io", "EndpointSlice") if origin == Origin::Client => {
            causes.extend(endpoints::validate_endpoint_slice(new))
        }
        ("", "Service") => causes.extend(service::validate(old, new)),
        ("apps", _) | ("batch", _) => causes.extend(workload::validate(&def.kind, old, new)),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            causes.extend(crd::validate(old, new))
        }
        _ => causes.extend(misc::validate(&def.group, &def.kind, old, new)),
    }
    if def.crd.is_some() {
        causes.extend(crd::validate_custom_resource(def, new));
    }
    causes
}

/// Create-time admission: allocations and objects derived from other objects.
pub fn admit_create(ctx: &Ctx<'_>, obj: &mut Value) -> ApiResult<()> {
    match (ctx.def.group.as_str(), ctx.def.kind.as_str()) {
        ("", "Pod") => pod::admit_create(ctx, obj),
        ("", "Service") => service::admit_create(ctx, obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            crd::admit_create(obj);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Keeps server-allocated values an update left out (service clusterIPs and node ports), as
/// upstream's REST strategies do before validation.
pub fn carry_allocated(def: &ResourceDef, old: &Value, new: &mut Value) {
    if def.group.is_empty() && def.kind == "Service" {
        service::carry_allocated(old, new);
    }
}

/// Update-time admission (allocations on type changes etc.).
pub fn admit_update(ctx: &Ctx<'_>, old: &Value, new: &mut Value) -> ApiResult<()> {
    match (ctx.def.group.as_str(), ctx.def.kind.as_str()) {
        ("", "Service") => service::admit_update(ctx, old, new),
        _ => Ok(()),
    }
}

/// Releases what an object held once it is gone (clusterIPs, nodePorts).
pub fn released(api: &Api, def: &ResourceDef, obj: &Value) {
    if def.group.is_empty() && def.kind == "Service" {
        service::release(api, obj);
    }
}
