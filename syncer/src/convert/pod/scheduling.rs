//! Where a super pod may run: the placement's node selector and tolerations, and affinity
//! terms scoped to the tenant's own pods.

use k8s_openapi::api::core::v1::{Affinity, PodAffinityTerm, PodSpec, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::convert::{ConvertError, TenantCtx};

/// Node-class isolation: the placement's nodeSelector wins on conflicts; its tolerations are
/// added once.
pub(super) fn place(ctx: &TenantCtx, spec: &mut PodSpec) {
    if !ctx.placement.node_selector.is_empty() {
        let sel = spec.node_selector.get_or_insert_default();
        sel.extend(ctx.placement.node_selector.clone());
    }
    if !ctx.placement.tolerations.is_empty() {
        spec.tolerations = Some(placed_tolerations(ctx, spec.tolerations.take()));
    }
}

/// A pod's tolerations with the placement's added once.
pub(super) fn placed_tolerations(
    ctx: &TenantCtx,
    tolerations: Option<Vec<Toleration>>,
) -> Vec<Toleration> {
    let mut tols = tolerations.unwrap_or_default();
    for t in &ctx.placement.tolerations {
        let t = Toleration::from(t);
        if !tols.contains(&t) {
            tols.push(t);
        }
    }
    tols
}

/// Rewrites pod (anti-)affinity terms so they only ever match this tenant's pods.
pub(super) fn scope_affinity(
    ctx: &TenantCtx,
    tenant_ns: &str,
    spec: &mut PodSpec,
) -> Result<(), ConvertError> {
    let Some(affinity) = spec.affinity.as_mut() else {
        return Ok(());
    };
    let Affinity {
        pod_affinity,
        pod_anti_affinity,
        ..
    } = affinity;
    let mut terms: Vec<&mut PodAffinityTerm> = Vec::new();
    if let Some(a) = pod_affinity.as_mut() {
        terms.extend(
            a.required_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten(),
        );
        terms.extend(
            a.preferred_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten()
                .map(|w| &mut w.pod_affinity_term),
        );
    }
    if let Some(a) = pod_anti_affinity.as_mut() {
        terms.extend(
            a.required_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten(),
        );
        terms.extend(
            a.preferred_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten()
                .map(|w| &mut w.pod_affinity_term),
        );
    }
    for term in terms {
        scope_term(ctx, tenant_ns, term)?;
    }
    Ok(())
}

pub(super) fn scope_term(
    ctx: &TenantCtx,
    tenant_ns: &str,
    term: &mut PodAffinityTerm,
) -> Result<(), ConvertError> {
    if let Some(sel) = term.label_selector.as_mut() {
        *sel = selector_downward(ctx, sel);
    }
    match (&mut term.namespaces, &mut term.namespace_selector) {
        (_, Some(ns_sel)) => {
            // A namespace selector (even `{}` = all namespaces) must stay inside the tenant: super
            // namespaces carry the tenant's labels, so require them.
            let mut scoped = selector_downward(ctx, ns_sel);
            scoped
                .match_labels
                .get_or_insert_default()
                .extend(ctx.id.labels());
            *ns_sel = scoped;
            if let Some(list) = term.namespaces.as_mut() {
                for ns in list.iter_mut() {
                    *ns = ctx.super_ns(ns)?;
                }
            }
        }
        (Some(list), None) if !list.is_empty() => {
            for ns in list.iter_mut() {
                *ns = ctx.super_ns(ns)?;
            }
        }
        _ => {
            // Empty: the pod's own namespace, which maps by itself; spelled out for clarity.
            term.namespaces = Some(vec![ctx.super_ns(tenant_ns)?]);
        }
    }
    Ok(())
}

/// A label selector as it must read on super objects (super-owned keys dropped).
pub fn selector_downward(ctx: &TenantCtx, sel: &LabelSelector) -> LabelSelector {
    LabelSelector {
        match_labels: sel
            .match_labels
            .as_ref()
            .map(|m| ctx.rules.selector_downward(m)),
        match_expressions: sel.match_expressions.as_ref().map(|exprs| {
            exprs
                .iter()
                .filter(|e| ctx.rules.selector_key_kept(&e.key))
                .cloned()
                .collect()
        }),
    }
}
