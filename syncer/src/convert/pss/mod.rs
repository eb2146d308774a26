//! Pod Security Standards as upstream Kubernetes v1.28 pod-security-admission evaluates them:
//! the `privileged`, `baseline` and `restricted` levels at version `latest` (= v1.28), with
//! upstream's check IDs, forbidden reasons and details, in upstream's order (baseline checks,
//! then restricted checks, each sorted by ID; a restricted check replaces the baseline check it
//! tightens: `restrictedVolumes` replaces `hostPathVolumes`, `capabilities_restricted` replaces
//! `capabilities_baseline`, `seccompProfile_restricted` replaces `seccompProfile_baseline`).
//!
//! Two deliberate additions to v1.28: `securityContext.appArmorProfile` (a field v1.28 lacks but
//! the API types here have) is checked like upstream v1.30 does, and [`Exceptions`] waive parts
//! of the checks for VirtualClusters that grant them.
//!
//! Pure: no I/O, no state.
//!
//! [`checks`] lists the checks in upstream's order; [`baseline`], [`restricted`] and
//! [`seccomp`] implement them over the pod as [`view`] shows it.

mod baseline;
mod checks;
mod exceptions;
mod restricted;
mod seccomp;
mod view;

use std::fmt;

use crds::{PodPolicy, PodSecurityLevel};
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use self::baseline::BASELINE_CAPABILITIES;
use self::checks::{CHECKS, Scope};
pub use self::exceptions::Exceptions;
use self::restricted::RESTRICTED_CAPABILITY;
use self::view::{Pod, containers};

/// The upstream policy version these rules are (what `latest` means here).
pub const POLICY_VERSION: &str = "v1.28";
/// The namespace label that makes pod-security-admission enforce a level.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";
/// The namespace label that pins the version of the enforced level.
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";

/// One failed check, worded as upstream words it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Upstream's check ID, e.g. `capabilities_baseline`.
    pub check: &'static str,
    /// Upstream's forbidden reason, e.g. `non-default capabilities`.
    pub reason: String,
    /// Upstream's forbidden detail, e.g. `container "c" must not include "SYS_ADMIN" in ...`.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{} ({})", self.reason, self.detail)
        }
    }
}

/// Every check of `level` the pod fails, without exceptions (empty: the pod meets the level).
pub fn evaluate(level: PodSecurityLevel, meta: &ObjectMeta, spec: &PodSpec) -> Vec<Violation> {
    evaluate_with(level, &Exceptions::default(), meta, spec)
}

/// Every check of `level` the pod fails once `exceptions` are waived.
pub fn evaluate_with(
    level: PodSecurityLevel,
    exceptions: &Exceptions,
    meta: &ObjectMeta,
    spec: &PodSpec,
) -> Vec<Violation> {
    let restricted = match level {
        PodSecurityLevel::Privileged => return Vec::new(),
        PodSecurityLevel::Baseline => false,
        PodSecurityLevel::Restricted => true,
    };
    let pod = Pod::new(meta, spec, exceptions);
    CHECKS
        .iter()
        .filter(|c| match c.scope {
            Scope::Baseline => true,
            Scope::BaselineOnly => !restricted,
            Scope::Restricted => restricted,
        })
        .filter_map(|c| {
            (c.run)(&pod).map(|(reason, detail)| Violation {
                check: c.id,
                reason,
                detail,
            })
        })
        .collect()
}

/// Upstream's admission message for a pod that fails `level`, e.g.
/// `violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), privileged (...)`.
pub fn message(level: PodSecurityLevel, violations: &[Violation]) -> String {
    let parts: Vec<String> = violations.iter().map(Violation::to_string).collect();
    format!(
        "violates PodSecurity \"{}:latest\": {}",
        level.as_str(),
        parts.join(", ")
    )
}

/// The exceptions a pod asks for that `level` forbids: its host namespaces, hostPath volumes,
/// privileged containers, and added capabilities beyond the level's list. Granting them (and
/// nothing else) lets the pod pass every waivable part of the level's checks.
pub fn requested_exceptions(level: PodSecurityLevel, spec: &PodSpec) -> Exceptions {
    if level == PodSecurityLevel::Privileged {
        return Exceptions::default();
    }
    let containers = containers(spec);
    let mut capabilities: Vec<String> = Vec::new();
    for c in &containers {
        for cap in c.added_capabilities() {
            if !level_allows_capability(level, cap) && !capabilities.iter().any(|x| x == cap) {
                capabilities.push(cap.to_string());
            }
        }
    }
    Exceptions {
        host_network: spec.host_network == Some(true),
        host_pid: spec.host_pid == Some(true),
        host_ipc: spec.host_ipc == Some(true),
        host_path: spec.volumes.iter().flatten().any(|v| v.host_path.is_some()),
        privileged: containers
            .iter()
            .any(|c| c.sc.and_then(|s| s.privileged) == Some(true)),
        capabilities,
    }
}

/// The level for the super namespaces' `pod-security.kubernetes.io/enforce` label (pinned with
/// `enforce-version: v1.28`), so that a real super cluster enforces the tenant's profile a
/// second time, behind the syncer: the policy's level (default baseline) when the policy grants
/// no exception that level forbids. Otherwise the strictest level that still admits every
/// granted exception: baseline for a restricted policy whose exceptions are only capabilities
/// baseline allows anyway, else `privileged`, where the syncer is the only enforcer of the
/// policy (a super cluster cannot express per-field exceptions).
pub fn enforce_label(policy: &PodPolicy) -> PodSecurityLevel {
    let level = policy.level.unwrap_or_default();
    let host = policy.allow_host_network
        || policy.allow_host_pid
        || policy.allow_host_ipc
        || policy.allow_host_path
        || policy.allow_privileged;
    if level == PodSecurityLevel::Privileged || host {
        return PodSecurityLevel::Privileged;
    }
    let caps_within = |l: PodSecurityLevel| {
        policy
            .allowed_capabilities
            .iter()
            .all(|c| level_allows_capability(l, c))
    };
    if caps_within(level) {
        level
    } else if caps_within(PodSecurityLevel::Baseline) {
        PodSecurityLevel::Baseline
    } else {
        PodSecurityLevel::Privileged
    }
}

fn level_allows_capability(level: PodSecurityLevel, cap: &str) -> bool {
    match level {
        PodSecurityLevel::Privileged => true,
        PodSecurityLevel::Baseline => BASELINE_CAPABILITIES.contains(&cap),
        PodSecurityLevel::Restricted => cap == RESTRICTED_CAPABILITY,
    }
}

#[cfg(test)]
mod tests;
