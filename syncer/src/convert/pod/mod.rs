//! Pods: the super pod for a tenant pod (validated against the pod policy and mutated so that it
//! runs on the super cluster but talks to its tenant), the updates that can follow, and status,
//! binding and readiness gates in both directions.
//!
//! [`inputs`] says what besides the tenant pod shapes its copy, [`validate`] what a pod may
//! not ask for, [`scheduling`] and [`env`] the mutations, [`update`] what can follow later and
//! [`status`] what flows back.

pub mod env;
pub mod inputs;
pub mod scheduling;
pub mod status;
pub mod update;
pub mod validate;

use crds::tenancy;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use self::env::service_env_vars;
use self::env::{inject_env, map_token_volumes, set_dns, set_host_aliases};
pub use self::inputs::{ApiEndpoint, KUBE_API_ACCESS_PREFIX, PodInputs, SA_MOUNT_PATH, ServiceEnv};
pub use self::scheduling::selector_downward;
use self::scheduling::{place, scope_affinity};
pub use self::status::{
    binding, prune_super, prune_tenant, readiness_down, status_up, unschedulable_status,
};
pub use self::update::{PodUpdate, diff, ephemeral_update, update_for};
pub use self::validate::{
    is_bound_by_syncer, secret_volume_names, service_account, token_volume, validate,
};
use super::{ConvertError, TenantCtx, kv, policy, super_meta};

/// The super pod for tenant pod `vpod`. Call [`validate`] first.
pub fn desired(
    ctx: &TenantCtx,
    vpod: &Pod,
    inputs: PodInputs<'_>,
    existing: Option<&ObjectMeta>,
) -> Result<Pod, ConvertError> {
    let vspec = vpod
        .spec
        .as_ref()
        .ok_or_else(|| ConvertError::Invalid("pod has no spec".into()))?;
    let tenant_ns = vpod.metadata.namespace.as_deref().unwrap_or_default();
    let mut spec = vspec.clone();
    policy::apply_default_requests(&ctx.pod_policy, &mut spec);
    spec.node_name = None;
    // Admission in the super cluster recomputes these from its own classes.
    spec.priority = None;
    spec.preemption_policy = None;
    spec.overhead = None;
    // Super credentials must never be mounted into tenant pods.
    spec.automount_service_account_token = Some(false);
    spec.service_account = None;
    place(ctx, &mut spec);
    scope_affinity(ctx, tenant_ns, &mut spec)?;
    inject_env(tenant_ns, &mut spec, &inputs);
    set_host_aliases(ctx, &mut spec, inputs.apiserver);
    if !dns_mutation_disabled(vpod) {
        set_dns(ctx, tenant_ns, &mut spec, inputs.dns_ip);
    }
    map_token_volumes(&mut spec, &inputs)?;
    Ok(Pod {
        metadata: super_meta(ctx, &vpod.metadata, existing)?,
        spec: Some(spec),
        status: None,
    })
}

fn dns_mutation_disabled(vpod: &Pod) -> bool {
    kv(&vpod.metadata.labels)
        .get(tenancy::LABEL_DISABLE_DNS_POLICY_MUTATION)
        .is_some_and(|v| v == "true")
}

#[cfg(test)]
mod tests;
