//! The restricted checks, one test per check.

use super::*;

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
