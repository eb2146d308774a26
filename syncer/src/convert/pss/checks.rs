//! Every v1.28 check in upstream's evaluation order, with the levels it belongs to.

use super::baseline::{
    app_armor_profile, capabilities_baseline, host_namespaces, host_path_volumes, host_ports,
    privileged, proc_mount, se_linux_options, sysctls, windows_host_process,
};
use super::restricted::{
    allow_privilege_escalation, capabilities_restricted, restricted_volumes, run_as_non_root,
    run_as_user,
};
use super::seccomp::{seccomp_baseline, seccomp_restricted};
use super::view::{Failure, Pod};

pub(super) enum Scope {
    /// A baseline check that restricted keeps.
    Baseline,
    /// A baseline check that a restricted check replaces.
    BaselineOnly,
    /// A restricted check.
    Restricted,
}

pub(super) struct Check {
    pub(super) id: &'static str,
    pub(super) scope: Scope,
    pub(super) run: fn(&Pod<'_>) -> Failure,
}

/// Every v1.28 check in upstream's evaluation order.
pub(super) const CHECKS: &[Check] = &[
    check("appArmorProfile", Scope::Baseline, app_armor_profile),
    check(
        "capabilities_baseline",
        Scope::BaselineOnly,
        capabilities_baseline,
    ),
    check("hostNamespaces", Scope::Baseline, host_namespaces),
    check("hostPathVolumes", Scope::BaselineOnly, host_path_volumes),
    check("hostPorts", Scope::Baseline, host_ports),
    check("privileged", Scope::Baseline, privileged),
    check("procMount", Scope::Baseline, proc_mount),
    check("seLinuxOptions", Scope::Baseline, se_linux_options),
    check(
        "seccompProfile_baseline",
        Scope::BaselineOnly,
        seccomp_baseline,
    ),
    check("sysctls", Scope::Baseline, sysctls),
    check("windowsHostProcess", Scope::Baseline, windows_host_process),
    check(
        "allowPrivilegeEscalation",
        Scope::Restricted,
        allow_privilege_escalation,
    ),
    check(
        "capabilities_restricted",
        Scope::Restricted,
        capabilities_restricted,
    ),
    check("restrictedVolumes", Scope::Restricted, restricted_volumes),
    check("runAsNonRoot", Scope::Restricted, run_as_non_root),
    check("runAsUser", Scope::Restricted, run_as_user),
    check(
        "seccompProfile_restricted",
        Scope::Restricted,
        seccomp_restricted,
    ),
];

pub(super) const fn check(id: &'static str, scope: Scope, run: fn(&Pod<'_>) -> Failure) -> Check {
    Check { id, scope, run }
}
