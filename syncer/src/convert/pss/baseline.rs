//! The baseline checks (seccomp's are in [`super::seccomp`]).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::SELinuxOptions;

use super::view::{Failure, Pod, containers_phrase, fail, go_quote, join_quote, pluralize, sorted};

/// Capabilities baseline lets a container add.
pub(super) const BASELINE_CAPABILITIES: [&str; 13] = [
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
/// Safe sysctls as of v1.27 (v1.29 adds the TCP keepalive and fin-timeout ones).
pub(super) const SAFE_SYSCTLS: [&str; 6] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
];
/// SELinux types baseline allows (`container_engine_t` comes with v1.31).
pub(super) const SELINUX_TYPES: [&str; 4] =
    ["", "container_t", "container_init_t", "container_kvm_t"];
/// Prefix of the per-container AppArmor annotations.
pub(super) const APPARMOR_ANNOTATION_PREFIX: &str =
    "container.apparmor.security.beta.kubernetes.io/";

pub(super) fn app_armor_profile(pod: &Pod<'_>) -> Failure {
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

pub(super) fn capabilities_baseline(pod: &Pod<'_>) -> Failure {
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

pub(super) fn host_namespaces(pod: &Pod<'_>) -> Failure {
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

pub(super) fn host_path_volumes(pod: &Pod<'_>) -> Failure {
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

pub(super) fn host_ports(pod: &Pod<'_>) -> Failure {
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

pub(super) fn privileged(pod: &Pod<'_>) -> Failure {
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

pub(super) fn proc_mount(pod: &Pod<'_>) -> Failure {
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

pub(super) fn se_linux_options<'a>(pod: &Pod<'a>) -> Failure {
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

pub(super) fn sysctls(pod: &Pod<'_>) -> Failure {
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

pub(super) fn windows_host_process(pod: &Pod<'_>) -> Failure {
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
