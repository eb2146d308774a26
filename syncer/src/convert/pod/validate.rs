//! Reading and checking a tenant pod: what it may not ask for, and what it refers to.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::{Pod, PodSpec, Volume};

use super::inputs::KUBE_API_ACCESS_PREFIX;
use crate::convert::{ConvertError, TenantCtx, placement, policy};

/// Rejects a tenant pod the syncer must not run: a preset `spec.nodeName` or anything the pod
/// policy forbids (checked after default requests are applied).
pub fn validate(ctx: &TenantCtx, vpod: &Pod) -> Result<(), ConvertError> {
    let spec = vpod
        .spec
        .as_ref()
        .ok_or_else(|| ConvertError::Invalid("pod has no spec".into()))?;
    if spec.node_name.as_deref().is_some_and(|n| !n.is_empty()) && !is_bound_by_syncer(vpod) {
        return Err(ConvertError::NotSupported(
            "spec.nodeName is set: tenant pods are placed by the super cluster's scheduler; \
             remove spec.nodeName (use nodeSelector or affinity instead)"
                .into(),
        ));
    }
    placement::check(&ctx.placement, &ctx.pod_policy, spec)?;
    let spec = check_policy(ctx, vpod, spec)?;
    for v in spec.volumes.iter().flatten() {
        let Some(projected) = &v.projected else {
            continue;
        };
        let has_token = projected
            .sources
            .iter()
            .flatten()
            .any(|s| s.service_account_token.is_some());
        if has_token && !v.name.starts_with(KUBE_API_ACCESS_PREFIX) {
            return Err(ConvertError::NotSupported(format!(
                "projected volume {:?} requests a service-account token with a custom audience or \
                 path; only the standard kube-api-access volume is supported",
                v.name
            )));
        }
    }
    Ok(())
}

/// Runs the pod policy on `spec` with the policy's default requests applied (they only matter
/// to the shape check, so most pods need no copy); returns the spec that was checked.
pub(super) fn check_policy<'a>(
    ctx: &TenantCtx,
    vpod: &Pod,
    spec: &'a PodSpec,
) -> Result<Cow<'a, PodSpec>, ConvertError> {
    let spec = if ctx.pod_policy.default_requests.is_empty() {
        Cow::Borrowed(spec)
    } else {
        let mut owned = spec.clone();
        policy::apply_default_requests(&ctx.pod_policy, &mut owned);
        Cow::Owned(owned)
    };
    policy::check(&ctx.pod_policy, &vpod.metadata, &spec)?;
    Ok(spec)
}

/// Whether the tenant pod carries a node name because the syncer bound it (its status shows a
/// scheduled pod), as opposed to a node name the tenant set itself.
pub fn is_bound_by_syncer(vpod: &Pod) -> bool {
    vpod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "PodScheduled" && c.status == "True")
        })
        || vpod
            .status
            .as_ref()
            .and_then(|s| s.host_ip.as_ref())
            .is_some()
}

/// The name of the projected token volume of a pod, if it has one.
pub fn token_volume(vpod: &Pod) -> Option<&Volume> {
    vpod.spec
        .as_ref()?
        .volumes
        .iter()
        .flatten()
        .find(|v| v.projected.is_some() && v.name.starts_with(KUBE_API_ACCESS_PREFIX))
}

/// The service account a pod runs as.
pub fn service_account(vpod: &Pod) -> &str {
    vpod.spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
}

/// Tenant secrets a pod's volumes reference by name.
pub fn secret_volume_names(vpod: &Pod) -> impl Iterator<Item = &str> {
    vpod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.secret.as_ref()?.secret_name.as_deref())
}
