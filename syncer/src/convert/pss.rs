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

use std::collections::BTreeSet;
use std::fmt;

use crds::{PodPolicy, PodSecurityLevel};
use k8s_openapi::api::core::v1::{ContainerPort, PodSpec, SELinuxOptions, SecurityContext, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The upstream policy version these rules are (what `latest` means here).
pub const POLICY_VERSION: &str = "v1.28";
/// The namespace label that makes pod-security-admission enforce a level.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";
/// The namespace label that pins the version of the enforced level.
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";

/// Capabilities baseline lets a container add.
const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];
/// The only capability restricted lets a container add.
const RESTRICTED_CAPABILITY: &str = "NET_BIND_SERVICE";
/// Safe sysctls as of v1.27 (v1.29 adds the TCP keepalive and fin-timeout ones).
const SAFE_SYSCTLS: [&str; 6] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
];
/// SELinux types baseline allows (`container_engine_t` comes with v1.31).
const SELINUX_TYPES: [&str; 4] = ["", "container_t", "container_init_t", "container_kvm_t"];
/// Prefix of the per-container AppArmor annotations.
const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

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

/// Parts of the checks a VirtualCluster waives for its tenant pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exceptions {
    /// Waives `hostNetwork=true` in `hostNamespaces`.
    pub host_network: bool,
    /// Waives `hostPID=true` in `hostNamespaces`.
    pub host_pid: bool,
    /// Waives `hostIPC=true` in `hostNamespaces`.
    pub host_ipc: bool,
    /// Waives `hostPathVolumes`, and hostPath volumes in `restrictedVolumes`.
    pub host_path: bool,
    /// Waives `privileged`.
    pub privileged: bool,
    /// Capabilities waived in the `add` part of `capabilities_baseline` and
    /// `capabilities_restricted` (exact names, as upstream compares them).
    pub capabilities: Vec<String>,
}

impl Exceptions {
    /// The exceptions a VirtualCluster's pod policy grants.
    pub fn from_policy(policy: &PodPolicy) -> Self {
        Exceptions {
            host_network: policy.allow_host_network,
            host_pid: policy.allow_host_pid,
            host_ipc: policy.allow_host_ipc,
            host_path: policy.allow_host_path,
            privileged: policy.allow_privileged,
            capabilities: policy.allowed_capabilities.clone(),
        }
    }

    /// Whether nothing is waived.
    pub fn is_empty(&self) -> bool {
        *self == Exceptions::default()
    }

    /// Both sets of exceptions together.
    pub fn union(&self, other: &Exceptions) -> Exceptions {
        let mut capabilities = self.capabilities.clone();
        for c in &other.capabilities {
            if !capabilities.contains(c) {
                capabilities.push(c.clone());
            }
        }
        Exceptions {
            host_network: self.host_network || other.host_network,
            host_pid: self.host_pid || other.host_pid,
            host_ipc: self.host_ipc || other.host_ipc,
            host_path: self.host_path || other.host_path,
            privileged: self.privileged || other.privileged,
            capabilities,
        }
    }

    fn allows_capability(&self, c: &str) -> bool {
        self.capabilities.iter().any(|a| a == c)
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

// --- the pod as the checks see it ------------------------------------------------------------

/// A container of any kind (init, app, ephemeral), reduced to what the checks read.
struct Ctr<'a> {
    name: &'a str,
    sc: Option<&'a SecurityContext>,
    ports: &'a [ContainerPort],
}

impl<'a> Ctr<'a> {
    fn added_capabilities(&self) -> impl Iterator<Item = &'a str> {
        self.sc
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|c| c.add.as_ref())
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

/// Init containers, then containers, then ephemeral containers, as upstream visits them.
fn containers(spec: &PodSpec) -> Vec<Ctr<'_>> {
    let init = spec.init_containers.iter().flatten();
    let app = spec.containers.iter();
    let regular = init.chain(app).map(|c| Ctr {
        name: &c.name,
        sc: c.security_context.as_ref(),
        ports: c.ports.as_deref().unwrap_or_default(),
    });
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| Ctr {
        name: &c.name,
        sc: c.security_context.as_ref(),
        ports: c.ports.as_deref().unwrap_or_default(),
    });
    regular.chain(ephemeral).collect()
}

struct Pod<'a> {
    meta: &'a ObjectMeta,
    spec: &'a PodSpec,
    ex: &'a Exceptions,
    containers: Vec<Ctr<'a>>,
}

impl<'a> Pod<'a> {
    fn new(meta: &'a ObjectMeta, spec: &'a PodSpec, ex: &'a Exceptions) -> Self {
        Pod {
            meta,
            spec,
            ex,
            containers: containers(spec),
        }
    }

    fn windows(&self) -> bool {
        self.spec.os.as_ref().is_some_and(|os| os.name == "windows")
    }

    fn volumes(&self) -> &'a [Volume] {
        self.spec.volumes.as_deref().unwrap_or_default()
    }

    /// Names of the containers for which `bad` holds.
    fn bad_containers(&self, bad: impl Fn(&Ctr<'a>) -> bool) -> Vec<&'a str> {
        self.containers
            .iter()
            .filter(|c| bad(c))
            .map(|c| c.name)
            .collect()
    }
}

/// A check's result when it fails: (forbidden reason, forbidden detail).
type Failure = Option<(String, String)>;

enum Scope {
    /// A baseline check that restricted keeps.
    Baseline,
    /// A baseline check that a restricted check replaces.
    BaselineOnly,
    /// A restricted check.
    Restricted,
}

struct Check {
    id: &'static str,
    scope: Scope,
    run: fn(&Pod<'_>) -> Failure,
}

/// Every v1.28 check in upstream's evaluation order.
const CHECKS: &[Check] = &[
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

const fn check(id: &'static str, scope: Scope, run: fn(&Pod<'_>) -> Failure) -> Check {
    Check { id, scope, run }
}

// --- wording helpers (upstream's joinQuote and pluralize) ------------------------------------

fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let parts: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("\"{}\"", parts.join("\", \""))
}

fn pluralize<'s>(singular: &'s str, plural: &'s str, count: usize) -> &'s str {
    if count == 1 { singular } else { plural }
}

/// `container "a"` / `containers "a", "b"`.
fn containers_phrase(names: &[&str]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// Go's `%q` for the strings that occur here.
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

fn fail(reason: impl Into<String>, detail: impl Into<String>) -> Failure {
    Some((reason.into(), detail.into()))
}

fn sorted(set: BTreeSet<&str>) -> Vec<&str> {
    set.into_iter().collect()
}

// --- baseline --------------------------------------------------------------------------------

fn app_armor_profile(pod: &Pod<'_>) -> Failure {
    let mut annotations: Vec<String> = pod
        .meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, v)| {
            k.starts_with(APPARMOR_ANNOTATION_PREFIX)
                && !(v.is_empty() || v.as_str() == "runtime/default" || v.starts_with("localhost/"))
        })
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    annotations.sort();

    // The securityContext.appArmorProfile field (upstream v1.30+ wording).
    let allowed = |t: &str| t == "RuntimeDefault" || t == "Localhost";
    let mut setters: Vec<String> = Vec::new();
    let mut values: BTreeSet<&str> = BTreeSet::new();
    if let Some(p) = pod
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.app_armor_profile.as_ref())
        .filter(|p| !allowed(&p.type_))
    {
        setters.push("pod".into());
        values.insert(&p.type_);
    }
    let bad = pod.bad_containers(|c| {
        c.sc.and_then(|s| s.app_armor_profile.as_ref())
            .is_some_and(|p| !allowed(&p.type_))
    });
    for c in &pod.containers {
        if let Some(p) = c.sc.and_then(|s| s.app_armor_profile.as_ref())
            && !allowed(&p.type_)
        {
            values.insert(&p.type_);
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }

    if setters.is_empty() {
        if annotations.is_empty() {
            return None;
        }
        // v1.28: annotations only.
        return fail(
            pluralize(
                "forbidden AppArmor profile",
                "forbidden AppArmor profiles",
                annotations.len(),
            ),
            annotations.join(", "),
        );
    }
    let mut bad_values: Vec<String> = values.into_iter().map(str::to_string).collect();
    if !annotations.is_empty() {
        setters.push(pluralize("annotation", "annotations", annotations.len()).into());
        bad_values.extend(annotations);
    }
    fail(
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            bad_values.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&bad_values)
        ),
    )
}

fn capabilities_baseline(pod: &Pod<'_>) -> Failure {
    let mut caps: BTreeSet<&str> = BTreeSet::new();
    let mut bad: Vec<&str> = Vec::new();
    for c in &pod.containers {
        let mut valid = true;
        for cap in c.added_capabilities() {
            if !BASELINE_CAPABILITIES.contains(&cap) && !pod.ex.allows_capability(cap) {
                valid = false;
                caps.insert(cap);
            }
        }
        if !valid {
            bad.push(c.name);
        }
    }
    if bad.is_empty() {
        return None;
    }
    fail(
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad),
            join_quote(&sorted(caps))
        ),
    )
}

fn host_namespaces(pod: &Pod<'_>) -> Failure {
    let s = pod.spec;
    let mut used: Vec<&str> = Vec::new();
    if s.host_network == Some(true) && !pod.ex.host_network {
        used.push("hostNetwork=true");
    }
    if s.host_pid == Some(true) && !pod.ex.host_pid {
        used.push("hostPID=true");
    }
    if s.host_ipc == Some(true) && !pod.ex.host_ipc {
        used.push("hostIPC=true");
    }
    if used.is_empty() {
        return None;
    }
    fail("host namespaces", used.join(", "))
}

fn host_path_volumes(pod: &Pod<'_>) -> Failure {
    if pod.ex.host_path {
        return None;
    }
    let names: Vec<&str> = pod
        .volumes()
        .iter()
        .filter(|v| v.host_path.is_some())
        .map(|v| v.name.as_str())
        .collect();
    if names.is_empty() {
        return None;
    }
    fail(
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", names.len()),
            join_quote(&names)
        ),
    )
}

fn host_ports(pod: &Pod<'_>) -> Failure {
    let mut ports: BTreeSet<String> = BTreeSet::new();
    let mut bad: Vec<&str> = Vec::new();
    for c in &pod.containers {
        let mut valid = true;
        for p in c.ports {
            if let Some(hp) = p.host_port.filter(|hp| *hp != 0) {
                valid = false;
                ports.insert(hp.to_string());
            }
        }
        if !valid {
            bad.push(c.name);
        }
    }
    if bad.is_empty() {
        return None;
    }
    let ports: Vec<String> = ports.into_iter().collect();
    fail(
        "hostPort",
        format!(
            "{} {} {} {}",
            containers_phrase(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.join(", ")
        ),
    )
}

fn privileged(pod: &Pod<'_>) -> Failure {
    if pod.ex.privileged {
        return None;
    }
    let bad = pod.bad_containers(|c| c.sc.and_then(|s| s.privileged) == Some(true));
    if bad.is_empty() {
        return None;
    }
    fail(
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&bad)
        ),
    )
}

fn proc_mount(pod: &Pod<'_>) -> Failure {
    let mut types: BTreeSet<&str> = BTreeSet::new();
    let mut bad: Vec<&str> = Vec::new();
    for c in &pod.containers {
        if let Some(pm) = c.sc.and_then(|s| s.proc_mount.as_deref())
            && pm != "Default"
        {
            bad.push(c.name);
            types.insert(pm);
        }
    }
    if bad.is_empty() {
        return None;
    }
    fail(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad),
            join_quote(&sorted(types))
        ),
    )
}

fn se_linux_options<'a>(pod: &Pod<'a>) -> Failure {
    let mut types: BTreeSet<&str> = BTreeSet::new();
    let mut set_user = false;
    let mut set_role = false;
    let mut valid = |o: &'a SELinuxOptions| {
        let mut ok = true;
        let t = o.type_.as_deref().unwrap_or_default();
        if !SELINUX_TYPES.contains(&t) {
            ok = false;
            types.insert(t);
        }
        if o.user.as_deref().is_some_and(|u| !u.is_empty()) {
            ok = false;
            set_user = true;
        }
        if o.role.as_deref().is_some_and(|r| !r.is_empty()) {
            ok = false;
            set_role = true;
        }
        ok
    };
    let mut setters: Vec<String> = Vec::new();
    if let Some(o) = pod
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.se_linux_options.as_ref())
        && !valid(o)
    {
        setters.push("pod".into());
    }
    let mut bad: Vec<&str> = Vec::new();
    for c in &pod.containers {
        if let Some(o) = c.sc.and_then(|s| s.se_linux_options.as_ref())
            && !valid(o)
        {
            bad.push(c.name);
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    let mut data: Vec<String> = Vec::new();
    if !types.is_empty() {
        data.push(format!(
            "{} {}",
            pluralize("type", "types", types.len()),
            join_quote(&sorted(types))
        ));
    }
    if set_user {
        data.push("user may not be set".into());
    }
    if set_role {
        data.push("role may not be set".into());
    }
    fail(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    )
}

fn valid_seccomp(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

/// The pod-level seccomp profile type, if set.
fn pod_seccomp<'a>(pod: &Pod<'a>) -> Option<&'a str> {
    pod.spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str())
}

/// Who explicitly sets a forbidden seccomp type, the forbidden types, and the containers that
/// set none.
fn seccomp_setters<'a>(pod: &Pod<'a>) -> (Vec<String>, BTreeSet<&'a str>, Vec<&'a str>) {
    let mut setters: Vec<String> = Vec::new();
    let mut values: BTreeSet<&str> = BTreeSet::new();
    if let Some(t) = pod_seccomp(pod).filter(|t| !valid_seccomp(t)) {
        setters.push("pod".into());
        values.insert(t);
    }
    let mut explicit: Vec<&str> = Vec::new();
    let mut unset: Vec<&str> = Vec::new();
    for c in &pod.containers {
        match c.sc.and_then(|s| s.seccomp_profile.as_ref()) {
            Some(p) if !valid_seccomp(&p.type_) => {
                explicit.push(c.name);
                values.insert(&p.type_);
            }
            Some(_) => {}
            None => unset.push(c.name),
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    (setters, values, unset)
}

fn seccomp_forbidden(setters: &[String], values: BTreeSet<&str>) -> Failure {
    fail(
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            setters.join(" and "),
            join_quote(&sorted(values))
        ),
    )
}

fn seccomp_baseline(pod: &Pod<'_>) -> Failure {
    let (setters, values, _) = seccomp_setters(pod);
    if setters.is_empty() {
        return None;
    }
    seccomp_forbidden(&setters, values)
}

fn sysctls(pod: &Pod<'_>) -> Failure {
    let bad: Vec<&str> = pod
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.sysctls.as_ref())
        .into_iter()
        .flatten()
        .map(|s| s.name.as_str())
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .collect();
    if bad.is_empty() {
        return None;
    }
    fail("forbidden sysctls", bad.join(", "))
}

fn windows_host_process(pod: &Pod<'_>) -> Failure {
    let mut setters: Vec<String> = Vec::new();
    let pod_level = pod
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.windows_options.as_ref())
        .and_then(|w| w.host_process);
    if pod_level == Some(true) {
        setters.push("pod".into());
    }
    let bad = pod.bad_containers(|c| {
        c.sc.and_then(|s| s.windows_options.as_ref())
            .and_then(|w| w.host_process)
            == Some(true)
    });
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    fail(
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        ),
    )
}

// --- restricted ------------------------------------------------------------------------------

fn allow_privilege_escalation(pod: &Pod<'_>) -> Failure {
    if pod.windows() {
        return None;
    }
    let bad =
        pod.bad_containers(|c| c.sc.and_then(|s| s.allow_privilege_escalation) != Some(false));
    if bad.is_empty() {
        return None;
    }
    fail(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad)
        ),
    )
}

fn capabilities_restricted(pod: &Pod<'_>) -> Failure {
    if pod.windows() {
        return None;
    }
    let mut missing_drop: Vec<&str> = Vec::new();
    let mut adding: Vec<&str> = Vec::new();
    let mut caps: BTreeSet<&str> = BTreeSet::new();
    for c in &pod.containers {
        let Some(cap) = c.sc.and_then(|s| s.capabilities.as_ref()) else {
            missing_drop.push(c.name);
            continue;
        };
        if !cap.drop.iter().flatten().any(|d| d == "ALL") {
            missing_drop.push(c.name);
        }
        let mut forbidden = false;
        for a in c.added_capabilities() {
            if a != RESTRICTED_CAPABILITY && !pod.ex.allows_capability(a) {
                forbidden = true;
                caps.insert(a);
            }
        }
        if forbidden {
            adding.push(c.name);
        }
    }
    let mut details: Vec<String> = Vec::new();
    if !missing_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&missing_drop)
        ));
    }
    if !adding.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&sorted(caps))
        ));
    }
    if details.is_empty() {
        return None;
    }
    fail("unrestricted capabilities", details.join("; "))
}

/// The name upstream gives a volume's type, or `None` for the types restricted allows.
fn restricted_volume_type(v: &Volume) -> Option<&'static str> {
    if v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.persistent_volume_claim.is_some()
        || v.projected.is_some()
        || v.secret.is_some()
    {
        return None;
    }
    let t = if v.host_path.is_some() {
        "hostPath"
    } else if v.gce_persistent_disk.is_some() {
        "gcePersistentDisk"
    } else if v.aws_elastic_block_store.is_some() {
        "awsElasticBlockStore"
    } else if v.git_repo.is_some() {
        "gitRepo"
    } else if v.nfs.is_some() {
        "nfs"
    } else if v.iscsi.is_some() {
        "iscsi"
    } else if v.glusterfs.is_some() {
        "glusterfs"
    } else if v.rbd.is_some() {
        "rbd"
    } else if v.flex_volume.is_some() {
        "flexVolume"
    } else if v.cinder.is_some() {
        "cinder"
    } else if v.cephfs.is_some() {
        "cephfs"
    } else if v.flocker.is_some() {
        "flocker"
    } else if v.fc.is_some() {
        "fc"
    } else if v.azure_file.is_some() {
        "azureFile"
    } else if v.vsphere_volume.is_some() {
        "vsphereVolume"
    } else if v.quobyte.is_some() {
        "quobyte"
    } else if v.azure_disk.is_some() {
        "azureDisk"
    } else if v.photon_persistent_disk.is_some() {
        "photonPersistentDisk"
    } else if v.portworx_volume.is_some() {
        "portworxVolume"
    } else if v.scale_io.is_some() {
        "scaleIO"
    } else if v.storageos.is_some() {
        "storageos"
    } else {
        // Includes `image`, which v1.28 does not know.
        "unknown"
    };
    Some(t)
}

fn restricted_volumes(pod: &Pod<'_>) -> Failure {
    let mut names: Vec<&str> = Vec::new();
    let mut types: BTreeSet<&str> = BTreeSet::new();
    for v in pod.volumes() {
        let Some(t) = restricted_volume_type(v) else {
            continue;
        };
        if t == "hostPath" && pod.ex.host_path {
            continue;
        }
        names.push(&v.name);
        types.insert(t);
    }
    if names.is_empty() {
        return None;
    }
    fail(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", names.len()),
            join_quote(&names),
            pluralize("uses", "use", names.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&sorted(types))
        ),
    )
}

fn run_as_non_root(pod: &Pod<'_>) -> Failure {
    let mut setters: Vec<String> = Vec::new();
    let pod_level = pod
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_non_root);
    if pod_level == Some(false) {
        setters.push("pod".into());
    }
    let pod_true = pod_level == Some(true);
    let mut explicit: Vec<&str> = Vec::new();
    let mut implicit: Vec<&str> = Vec::new();
    for c in &pod.containers {
        match c.sc.and_then(|s| s.run_as_non_root) {
            Some(false) => explicit.push(c.name),
            Some(true) => {}
            None if !pod_true => implicit.push(c.name),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return fail(
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
        );
    }
    if !implicit.is_empty() {
        return fail(
            "runAsNonRoot != true",
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&implicit)
            ),
        );
    }
    None
}

fn run_as_user(pod: &Pod<'_>) -> Failure {
    let mut setters: Vec<String> = Vec::new();
    if pod
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_user)
        == Some(0)
    {
        setters.push("pod".into());
    }
    let bad = pod.bad_containers(|c| c.sc.and_then(|s| s.run_as_user) == Some(0));
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    fail(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters.join(" and ")),
    )
}

fn seccomp_restricted(pod: &Pod<'_>) -> Failure {
    if pod.windows() {
        return None;
    }
    let (setters, values, unset) = seccomp_setters(pod);
    if !setters.is_empty() {
        return seccomp_forbidden(&setters, values);
    }
    let pod_valid = pod_seccomp(pod).is_some_and(valid_seccomp);
    if !pod_valid && !unset.is_empty() {
        return fail(
            "seccompProfile",
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&unset)
            ),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{
        AppArmorProfile, Capabilities, ConfigMapVolumeSource, Container, EphemeralContainer,
        HostPathVolumeSource, NFSVolumeSource, PodOS, PodSecurityContext, SeccompProfile, Sysctl,
        WindowsSecurityContextOptions,
    };

    use super::*;
    use PodSecurityLevel::{Baseline, Privileged, Restricted};

    fn ctr(name: &str, sc: Option<SecurityContext>) -> Container {
        Container {
            name: name.into(),
            image: Some("busybox".into()),
            security_context: sc,
            ..Container::default()
        }
    }

    /// A container security context that meets restricted.
    fn hardened() -> SecurityContext {
        SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                add: None,
                drop: Some(vec!["ALL".into()]),
            }),
            ..SecurityContext::default()
        }
    }

    fn seccomp(t: &str) -> Option<SeccompProfile> {
        Some(SeccompProfile {
            type_: t.into(),
            localhost_profile: None,
        })
    }

    /// A pod that meets restricted: one hardened container "c".
    fn restricted_pod() -> PodSpec {
        PodSpec {
            containers: vec![ctr("c", Some(hardened()))],
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                seccomp_profile: seccomp("RuntimeDefault"),
                ..PodSecurityContext::default()
            }),
            volumes: Some(vec![Volume {
                name: "cfg".into(),
                config_map: Some(ConfigMapVolumeSource::default()),
                ..Volume::default()
            }]),
            ..PodSpec::default()
        }
    }

    /// A pod with nothing set: baseline, not restricted.
    fn plain_pod() -> PodSpec {
        PodSpec {
            containers: vec![ctr("c", None)],
            ..PodSpec::default()
        }
    }

    /// The restricted pod with its container's security context changed.
    fn with_ctr_sc(f: impl FnOnce(&mut SecurityContext)) -> PodSpec {
        let mut s = restricted_pod();
        if let Some(sc) = s.containers[0].security_context.as_mut() {
            f(sc);
        }
        s
    }

    /// The restricted pod with its pod security context changed.
    fn with_pod_sc(f: impl FnOnce(&mut PodSecurityContext)) -> PodSpec {
        let mut s = restricted_pod();
        if let Some(sc) = s.security_context.as_mut() {
            f(sc);
        }
        s
    }

    fn meta() -> ObjectMeta {
        ObjectMeta::default()
    }

    fn eval(level: PodSecurityLevel, spec: &PodSpec) -> Vec<Violation> {
        evaluate(level, &meta(), spec)
    }

    fn ids(v: &[Violation]) -> Vec<&'static str> {
        v.iter().map(|v| v.check).collect()
    }

    /// The only violation, as `reason (detail)`.
    fn only(v: &[Violation]) -> String {
        assert_eq!(v.len(), 1, "{v:?}");
        v[0].to_string()
    }

    fn caps(add: &[&str]) -> Option<Capabilities> {
        Some(Capabilities {
            add: Some(add.iter().map(|c| c.to_string()).collect()),
            drop: Some(vec!["ALL".into()]),
        })
    }

    #[test]
    fn restricted_pod_meets_every_level() {
        for level in [Privileged, Baseline, Restricted] {
            assert_eq!(eval(level, &restricted_pod()), vec![], "{level:?}");
        }
    }

    #[test]
    fn plain_pod_meets_baseline_but_not_restricted() {
        let s = plain_pod();
        assert_eq!(eval(Baseline, &s), vec![]);
        let v = eval(Restricted, &s);
        assert_eq!(
            ids(&v),
            [
                "allowPrivilegeEscalation",
                "capabilities_restricted",
                "runAsNonRoot",
                "seccompProfile_restricted"
            ]
        );
        assert_eq!(
            message(Restricted, &v),
            "violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false \
             (container \"c\" must set securityContext.allowPrivilegeEscalation=false), \
             unrestricted capabilities (container \"c\" must set \
             securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or \
             container \"c\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or \
             container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" \
             or \"Localhost\")"
        );
    }

    #[test]
    fn privileged_level_allows_anything() {
        let mut s = with_ctr_sc(|sc| {
            sc.privileged = Some(true);
            sc.capabilities = caps(&["SYS_ADMIN"]);
            sc.run_as_user = Some(0);
        });
        s.host_network = Some(true);
        s.host_pid = Some(true);
        assert_eq!(eval(Privileged, &s), vec![]);
        assert!(!eval(Baseline, &s).is_empty());
    }

    #[test]
    fn host_namespaces() {
        let mut s = restricted_pod();
        s.host_ipc = Some(true);
        s.host_network = Some(true);
        s.host_pid = Some(false);
        assert_eq!(
            message(Baseline, &eval(Baseline, &s)),
            "violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true, hostIPC=true)"
        );
        assert_eq!(ids(&eval(Restricted, &s)), ["hostNamespaces"]);
        s.host_pid = Some(true);
        assert_eq!(
            only(&eval(Baseline, &s)),
            "host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)"
        );
    }

    #[test]
    fn privileged_containers() {
        let mut s = with_ctr_sc(|sc| sc.privileged = Some(true));
        s.init_containers = Some(vec![ctr(
            "init",
            Some(SecurityContext {
                privileged: Some(true),
                ..hardened()
            }),
        )]);
        assert_eq!(
            only(&eval(Baseline, &s)),
            "privileged (containers \"init\", \"c\" must not set securityContext.privileged=true)"
        );
        let ok = with_ctr_sc(|sc| sc.privileged = Some(false));
        assert_eq!(eval(Baseline, &ok), vec![]);
    }

    #[test]
    fn capabilities_beyond_the_default_set() {
        let s = with_ctr_sc(|sc| sc.capabilities = caps(&["SYS_ADMIN", "NET_ADMIN", "ALL"]));
        let v = eval(Baseline, &s);
        assert_eq!(ids(&v), ["capabilities_baseline"]);
        assert_eq!(
            only(&v),
            "non-default capabilities (container \"c\" must not include \"ALL\", \"NET_ADMIN\", \
             \"SYS_ADMIN\" in securityContext.capabilities.add)"
        );
        // restricted replaces capabilities_baseline with capabilities_restricted
        assert_eq!(
            only(&eval(Restricted, &s)),
            "unrestricted capabilities (container \"c\" must not include \"ALL\", \"NET_ADMIN\", \
             \"SYS_ADMIN\" in securityContext.capabilities.add)"
        );
        // the default set passes baseline, but restricted only allows NET_BIND_SERVICE
        let s = with_ctr_sc(|sc| sc.capabilities = caps(&["CHOWN", "NET_BIND_SERVICE"]));
        assert_eq!(eval(Baseline, &s), vec![]);
        assert_eq!(
            only(&eval(Restricted, &s)),
            "unrestricted capabilities (container \"c\" must not include \"CHOWN\" in \
             securityContext.capabilities.add)"
        );
        let s = with_ctr_sc(|sc| sc.capabilities = caps(&["NET_BIND_SERVICE"]));
        assert_eq!(eval(Restricted, &s), vec![]);
        // both restricted parts at once
        let s = with_ctr_sc(|sc| {
            sc.capabilities = Some(Capabilities {
                add: Some(vec!["KILL".into()]),
                drop: Some(vec!["NET_RAW".into()]),
            })
        });
        assert_eq!(
            only(&eval(Restricted, &s)),
            "unrestricted capabilities (container \"c\" must set \
             securityContext.capabilities.drop=[\"ALL\"]; container \"c\" must not include \
             \"KILL\" in securityContext.capabilities.add)"
        );
    }

    #[test]
    fn ephemeral_containers_are_checked_too() {
        let mut s = plain_pod();
        s.ephemeral_containers = Some(vec![EphemeralContainer {
            name: "debug".into(),
            security_context: Some(SecurityContext {
                capabilities: Some(Capabilities {
                    add: Some(vec!["SYS_ADMIN".into()]),
                    drop: None,
                }),
                ..SecurityContext::default()
            }),
            ..EphemeralContainer::default()
        }]);
        assert_eq!(
            only(&eval(Baseline, &s)),
            "non-default capabilities (container \"debug\" must not include \"SYS_ADMIN\" in \
             securityContext.capabilities.add)"
        );
        let v = eval(Restricted, &s);
        assert!(
            v.iter()
                .any(|v| v.check == "capabilities_restricted"
                    && v.detail.contains("\"c\", \"debug\"")),
            "{v:?}"
        );
    }

    #[test]
    fn host_path_volumes() {
        let mut s = restricted_pod();
        s.volumes = Some(vec![
            Volume {
                name: "root".into(),
                host_path: Some(HostPathVolumeSource {
                    path: "/".into(),
                    type_: None,
                }),
                ..Volume::default()
            },
            Volume {
                name: "share".into(),
                nfs: Some(NFSVolumeSource {
                    path: "/x".into(),
                    server: "nfs".into(),
                    read_only: None,
                }),
                ..Volume::default()
            },
        ]);
        assert_eq!(
            only(&eval(Baseline, &s)),
            "hostPath volumes (volume \"root\")"
        );
        // restricted replaces hostPathVolumes with restrictedVolumes
        assert_eq!(
            only(&eval(Restricted, &s)),
            "restricted volume types (volumes \"root\", \"share\" use restricted volume types \
             \"hostPath\", \"nfs\")"
        );
        let ex = Exceptions {
            host_path: true,
            ..Exceptions::default()
        };
        assert_eq!(evaluate_with(Baseline, &ex, &meta(), &s), vec![]);
        assert_eq!(
            only(&evaluate_with(Restricted, &ex, &meta(), &s)),
            "restricted volume types (volume \"share\" uses restricted volume type \"nfs\")"
        );
    }

    #[test]
    fn host_ports() {
        let mut s = restricted_pod();
        s.containers[0].ports = Some(vec![
            ContainerPort {
                container_port: 80,
                host_port: Some(8080),
                ..ContainerPort::default()
            },
            ContainerPort {
                container_port: 81,
                host_port: Some(80),
                ..ContainerPort::default()
            },
        ]);
        let v = eval(Baseline, &s);
        assert_eq!(ids(&v), ["hostPorts"]);
        assert_eq!(
            only(&v),
            "hostPort (container \"c\" uses hostPorts 80, 8080)"
        );
        assert_eq!(ids(&eval(Restricted, &s)), ["hostPorts"]);
        s.containers[0].ports = Some(vec![ContainerPort {
            container_port: 80,
            host_port: Some(0),
            ..ContainerPort::default()
        }]);
        assert_eq!(eval(Restricted, &s), vec![]);
    }

    #[test]
    fn app_armor_annotations_and_field() {
        let annotated = |v: &str| ObjectMeta {
            annotations: Some(BTreeMap::from([(
                format!("{APPARMOR_ANNOTATION_PREFIX}c"),
                v.to_string(),
            )])),
            ..ObjectMeta::default()
        };
        let s = restricted_pod();
        for ok in ["runtime/default", "localhost/my-profile", ""] {
            assert_eq!(evaluate(Restricted, &annotated(ok), &s), vec![], "{ok}");
        }
        let v = evaluate(Baseline, &annotated("unconfined"), &s);
        assert_eq!(ids(&v), ["appArmorProfile"]);
        assert_eq!(
            only(&v),
            "forbidden AppArmor profile \
             (container.apparmor.security.beta.kubernetes.io/c=\"unconfined\")"
        );
        // other annotations are not AppArmor's
        let other = ObjectMeta {
            annotations: Some(BTreeMap::from([(
                "x/c".to_string(),
                "unconfined".to_string(),
            )])),
            ..ObjectMeta::default()
        };
        assert_eq!(evaluate(Baseline, &other, &s), vec![]);
        // the securityContext field (v1.30 semantics)
        let profile = |t: &str| {
            Some(AppArmorProfile {
                type_: t.into(),
                localhost_profile: None,
            })
        };
        let s = with_ctr_sc(|sc| sc.app_armor_profile = profile("Unconfined"));
        assert_eq!(
            only(&eval(Baseline, &s)),
            "forbidden AppArmor profile (container \"c\" must not set AppArmor profile type to \
             \"Unconfined\")"
        );
        let s = with_pod_sc(|sc| sc.app_armor_profile = profile("Unconfined"));
        assert_eq!(ids(&eval(Baseline, &s)), ["appArmorProfile"]);
        let s = with_pod_sc(|sc| sc.app_armor_profile = profile("RuntimeDefault"));
        assert_eq!(eval(Restricted, &s), vec![]);
    }

    #[test]
    fn se_linux_options() {
        let opts = |t: Option<&str>, user: Option<&str>| {
            Some(SELinuxOptions {
                type_: t.map(str::to_string),
                user: user.map(str::to_string),
                ..SELinuxOptions::default()
            })
        };
        let s = with_pod_sc(|sc| sc.se_linux_options = opts(Some("spc_t"), None));
        assert_eq!(
            only(&eval(Baseline, &s)),
            "seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type \"spc_t\")"
        );
        let s = with_ctr_sc(|sc| sc.se_linux_options = opts(Some("container_t"), Some("root")));
        assert_eq!(
            only(&eval(Restricted, &s)),
            "seLinuxOptions (container \"c\" set forbidden securityContext.seLinuxOptions: user \
             may not be set)"
        );
        for ok in [
            None,
            Some(""),
            Some("container_t"),
            Some("container_init_t"),
            Some("container_kvm_t"),
        ] {
            let s = with_ctr_sc(|sc| sc.se_linux_options = opts(ok, None));
            assert_eq!(eval(Restricted, &s), vec![], "{ok:?}");
        }
        // container_engine_t arrives with v1.31
        let s = with_ctr_sc(|sc| sc.se_linux_options = opts(Some("container_engine_t"), None));
        assert_eq!(ids(&eval(Baseline, &s)), ["seLinuxOptions"]);
    }

    #[test]
    fn proc_mount() {
        let s = with_ctr_sc(|sc| sc.proc_mount = Some("Unmasked".into()));
        assert_eq!(
            only(&eval(Baseline, &s)),
            "procMount (container \"c\" must not set securityContext.procMount to \"Unmasked\")"
        );
        let s = with_ctr_sc(|sc| sc.proc_mount = Some("Default".into()));
        assert_eq!(eval(Restricted, &s), vec![]);
    }

    #[test]
    fn seccomp_profiles() {
        // baseline forbids Unconfined where set, restricted also requires a profile
        let s = with_pod_sc(|sc| sc.seccomp_profile = seccomp("Unconfined"));
        let v = eval(Baseline, &s);
        assert_eq!(ids(&v), ["seccompProfile_baseline"]);
        assert_eq!(
            only(&v),
            "seccompProfile (pod must not set securityContext.seccompProfile.type to \"Unconfined\")"
        );
        assert_eq!(ids(&eval(Restricted, &s)), ["seccompProfile_restricted"]);
        let mut s = plain_pod();
        s.containers[0].security_context = Some(SecurityContext {
            seccomp_profile: seccomp("Unconfined"),
            ..SecurityContext::default()
        });
        assert_eq!(
            only(&eval(Baseline, &s)),
            "seccompProfile (container \"c\" must not set securityContext.seccompProfile.type to \
             \"Unconfined\")"
        );
        // per-container profiles satisfy restricted without a pod-level one
        let s = with_pod_sc(|sc| sc.seccomp_profile = None);
        assert_eq!(
            only(&eval(Restricted, &s)),
            "seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type \
             to \"RuntimeDefault\" or \"Localhost\")"
        );
        let mut s = with_pod_sc(|sc| sc.seccomp_profile = None);
        if let Some(sc) = s.containers[0].security_context.as_mut() {
            sc.seccomp_profile = seccomp("Localhost");
        }
        assert_eq!(eval(Restricted, &s), vec![]);
    }

    #[test]
    fn sysctls() {
        let with = |names: &[&str]| {
            with_pod_sc(|sc| {
                sc.sysctls = Some(
                    names
                        .iter()
                        .map(|n| Sysctl {
                            name: n.to_string(),
                            value: "1".into(),
                        })
                        .collect(),
                )
            })
        };
        let safe = with(&SAFE_SYSCTLS);
        assert_eq!(eval(Restricted, &safe), vec![]);
        let s = with(&[
            "net.ipv4.tcp_syncookies",
            "kernel.msgmax",
            "net.ipv4.tcp_keepalive_time",
        ]);
        let v = eval(Baseline, &s);
        assert_eq!(ids(&v), ["sysctls"]);
        // the keepalive sysctls are safe only from v1.29
        assert_eq!(
            only(&v),
            "forbidden sysctls (kernel.msgmax, net.ipv4.tcp_keepalive_time)"
        );
    }

    #[test]
    fn windows_host_process() {
        let host_process = Some(WindowsSecurityContextOptions {
            host_process: Some(true),
            ..WindowsSecurityContextOptions::default()
        });
        let mut s = with_pod_sc(|sc| sc.windows_options = host_process.clone());
        if let Some(sc) = s.containers[0].security_context.as_mut() {
            sc.windows_options = host_process;
        }
        assert_eq!(
            only(&eval(Baseline, &s)),
            "hostProcess (pod and container \"c\" must not set \
             securityContext.windowsOptions.hostProcess=true)"
        );
    }

    #[test]
    fn allow_privilege_escalation() {
        let s = with_ctr_sc(|sc| sc.allow_privilege_escalation = Some(true));
        assert_eq!(eval(Baseline, &s), vec![]);
        assert_eq!(
            only(&eval(Restricted, &s)),
            "allowPrivilegeEscalation != false (container \"c\" must set \
             securityContext.allowPrivilegeEscalation=false)"
        );
    }

    #[test]
    fn run_as_non_root() {
        let s = with_ctr_sc(|sc| sc.run_as_non_root = Some(false));
        assert_eq!(eval(Baseline, &s), vec![]);
        assert_eq!(
            only(&eval(Restricted, &s)),
            "runAsNonRoot != true (container \"c\" must not set securityContext.runAsNonRoot=false)"
        );
        let s = with_pod_sc(|sc| sc.run_as_non_root = Some(false));
        assert_eq!(
            only(&eval(Restricted, &s)),
            "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)"
        );
        // every container may opt in instead of the pod
        let mut s = with_pod_sc(|sc| sc.run_as_non_root = None);
        assert_eq!(ids(&eval(Restricted, &s)), ["runAsNonRoot"]);
        if let Some(sc) = s.containers[0].security_context.as_mut() {
            sc.run_as_non_root = Some(true);
        }
        assert_eq!(eval(Restricted, &s), vec![]);
    }

    #[test]
    fn run_as_user_zero() {
        let mut s = with_pod_sc(|sc| sc.run_as_user = Some(0));
        if let Some(sc) = s.containers[0].security_context.as_mut() {
            sc.run_as_user = Some(0);
        }
        assert_eq!(eval(Baseline, &s), vec![]);
        assert_eq!(
            only(&eval(Restricted, &s)),
            "runAsUser=0 (pod and container \"c\" must not set runAsUser=0)"
        );
        let s = with_pod_sc(|sc| sc.run_as_user = Some(1000));
        assert_eq!(eval(Restricted, &s), vec![]);
    }

    #[test]
    fn windows_pods_skip_the_linux_only_restricted_checks() {
        let mut s = plain_pod();
        s.os = Some(PodOS {
            name: "windows".into(),
        });
        assert_eq!(ids(&eval(Restricted, &s)), ["runAsNonRoot"]);
    }

    #[test]
    fn exceptions_waive_exactly_their_part() {
        let mut s = with_ctr_sc(|sc| {
            sc.privileged = Some(true);
            sc.capabilities = caps(&["NET_ADMIN", "SYS_ADMIN"]);
        });
        s.host_network = Some(true);
        s.host_pid = Some(true);
        let ex = Exceptions {
            host_network: true,
            privileged: true,
            capabilities: vec!["NET_ADMIN".into()],
            ..Exceptions::default()
        };
        assert_eq!(
            message(Baseline, &evaluate_with(Baseline, &ex, &meta(), &s)),
            "violates PodSecurity \"baseline:latest\": non-default capabilities (container \"c\" \
             must not include \"SYS_ADMIN\" in securityContext.capabilities.add), host namespaces \
             (hostPID=true)"
        );
        let all = ex.union(&requested_exceptions(Baseline, &s));
        assert_eq!(evaluate_with(Baseline, &all, &meta(), &s), vec![]);
        assert_eq!(evaluate_with(Restricted, &all, &meta(), &s), vec![]);
        // allowedCapabilities never waives drop ALL
        let s = with_ctr_sc(|sc| {
            sc.capabilities = Some(Capabilities {
                add: Some(vec!["NET_ADMIN".into()]),
                drop: None,
            })
        });
        assert_eq!(
            only(&evaluate_with(Restricted, &ex, &meta(), &s)),
            "unrestricted capabilities (container \"c\" must set \
             securityContext.capabilities.drop=[\"ALL\"])"
        );
    }

    #[test]
    fn requested_exceptions_follow_the_level() {
        let mut s = with_ctr_sc(|sc| sc.capabilities = caps(&["CHOWN", "SYS_ADMIN"]));
        s.host_ipc = Some(true);
        let b = requested_exceptions(Baseline, &s);
        assert!(b.host_ipc && !b.host_network && !b.privileged && !b.host_path);
        assert_eq!(b.capabilities, ["SYS_ADMIN"]);
        assert_eq!(
            requested_exceptions(Restricted, &s).capabilities,
            ["CHOWN", "SYS_ADMIN"]
        );
        assert!(requested_exceptions(Privileged, &s).is_empty());
    }

    #[test]
    fn enforce_label_is_the_level_unless_an_exception_needs_more() {
        let policy = |f: fn(&mut PodPolicy)| {
            let mut p = PodPolicy::default();
            f(&mut p);
            enforce_label(&p)
        };
        assert_eq!(policy(|_| {}), Baseline);
        assert_eq!(policy(|p| p.level = Some(Restricted)), Restricted);
        assert_eq!(policy(|p| p.level = Some(Privileged)), Privileged);
        assert_eq!(policy(|p| p.allow_host_network = true), Privileged);
        assert_eq!(policy(|p| p.allow_host_pid = true), Privileged);
        assert_eq!(policy(|p| p.allow_host_ipc = true), Privileged);
        assert_eq!(policy(|p| p.allow_host_path = true), Privileged);
        assert_eq!(policy(|p| p.allow_privileged = true), Privileged);
        assert_eq!(
            policy(|p| p.allowed_capabilities = vec!["NET_ADMIN".into()]),
            Privileged
        );
        // capabilities the level allows anyway are no exception
        assert_eq!(
            policy(|p| p.allowed_capabilities = vec!["CHOWN".into()]),
            Baseline
        );
        assert_eq!(
            policy(|p| {
                p.level = Some(Restricted);
                p.allowed_capabilities = vec!["NET_BIND_SERVICE".into()];
            }),
            Restricted
        );
        // restricted with a capability only baseline allows: baseline still enforces it
        assert_eq!(
            policy(|p| {
                p.level = Some(Restricted);
                p.allowed_capabilities = vec!["CHOWN".into()];
            }),
            Baseline
        );
        assert_eq!(
            policy(|p| {
                p.level = Some(Restricted);
                p.allow_host_path = true;
            }),
            Privileged
        );
    }

    #[test]
    fn checks_run_in_upstream_order() {
        let mut s = with_ctr_sc(|sc| {
            sc.privileged = Some(true);
            sc.proc_mount = Some("Unmasked".into());
            sc.capabilities = caps(&["SYS_ADMIN"]);
            sc.allow_privilege_escalation = None;
            sc.run_as_user = Some(0);
        });
        s.host_pid = Some(true);
        s.containers[0].ports = Some(vec![ContainerPort {
            container_port: 1,
            host_port: Some(1),
            ..ContainerPort::default()
        }]);
        assert_eq!(
            ids(&eval(Baseline, &s)),
            [
                "capabilities_baseline",
                "hostNamespaces",
                "hostPorts",
                "privileged",
                "procMount"
            ]
        );
        assert_eq!(
            ids(&eval(Restricted, &s)),
            [
                "hostNamespaces",
                "hostPorts",
                "privileged",
                "procMount",
                "allowPrivilegeEscalation",
                "capabilities_restricted",
                "runAsUser"
            ]
        );
    }
}
