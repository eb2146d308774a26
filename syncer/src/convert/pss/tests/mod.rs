//! Tests of the pod security checks, with the pod builders the level files share.

mod baseline;
mod restricted;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, ConfigMapVolumeSource, Container, ContainerPort,
    EphemeralContainer, HostPathVolumeSource, NFSVolumeSource, PodOS, PodSecurityContext,
    SELinuxOptions, SeccompProfile, SecurityContext, Sysctl, Volume, WindowsSecurityContextOptions,
};

use super::baseline::{APPARMOR_ANNOTATION_PREFIX, SAFE_SYSCTLS};
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
