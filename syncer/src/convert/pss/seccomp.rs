//! The seccomp checks of both levels: baseline forbids `Unconfined`, restricted also requires a
//! profile on every container.

use std::collections::BTreeSet;

use super::view::{Failure, Pod, containers_phrase, fail, join_quote, sorted};

pub(super) fn valid_seccomp(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

/// The pod-level seccomp profile type, if set.
pub(super) fn pod_seccomp<'a>(pod: &Pod<'a>) -> Option<&'a str> {
    pod.spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str())
}

/// Who explicitly sets a forbidden seccomp type, the forbidden types, and the containers that
/// set none.
pub(super) fn seccomp_setters<'a>(pod: &Pod<'a>) -> (Vec<String>, BTreeSet<&'a str>, Vec<&'a str>) {
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

pub(super) fn seccomp_forbidden(setters: &[String], values: BTreeSet<&str>) -> Failure {
    fail(
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            setters.join(" and "),
            join_quote(&sorted(values))
        ),
    )
}

pub(super) fn seccomp_baseline(pod: &Pod<'_>) -> Failure {
    let (setters, values, _) = seccomp_setters(pod);
    if setters.is_empty() {
        return None;
    }
    seccomp_forbidden(&setters, values)
}

pub(super) fn seccomp_restricted(pod: &Pod<'_>) -> Failure {
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
