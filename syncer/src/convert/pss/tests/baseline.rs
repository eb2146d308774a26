//! The baseline checks, one test per check.

use super::*;

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
            .any(|v| v.check == "capabilities_restricted" && v.detail.contains("\"c\", \"debug\"")),
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
