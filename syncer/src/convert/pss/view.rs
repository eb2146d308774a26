//! The pod as the checks see it, and upstream's wording helpers (`joinQuote`, `pluralize`).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ContainerPort, PodSpec, SecurityContext, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::exceptions::Exceptions;

/// A container of any kind (init, app, ephemeral), reduced to what the checks read.
pub(super) struct Ctr<'a> {
    pub(super) name: &'a str,
    pub(super) sc: Option<&'a SecurityContext>,
    pub(super) ports: &'a [ContainerPort],
}

impl<'a> Ctr<'a> {
    pub(super) fn added_capabilities(&self) -> impl Iterator<Item = &'a str> {
        self.sc
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|c| c.add.as_ref())
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

/// Init containers, then containers, then ephemeral containers, as upstream visits them.
pub(super) fn containers(spec: &PodSpec) -> Vec<Ctr<'_>> {
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

pub(super) struct Pod<'a> {
    pub(super) meta: &'a ObjectMeta,
    pub(super) spec: &'a PodSpec,
    pub(super) ex: &'a Exceptions,
    pub(super) containers: Vec<Ctr<'a>>,
}

impl<'a> Pod<'a> {
    pub(super) fn new(meta: &'a ObjectMeta, spec: &'a PodSpec, ex: &'a Exceptions) -> Self {
        Pod {
            meta,
            spec,
            ex,
            containers: containers(spec),
        }
    }

    pub(super) fn windows(&self) -> bool {
        self.spec.os.as_ref().is_some_and(|os| os.name == "windows")
    }

    pub(super) fn volumes(&self) -> &'a [Volume] {
        self.spec.volumes.as_deref().unwrap_or_default()
    }

    /// Names of the containers for which `bad` holds.
    pub(super) fn bad_containers(&self, bad: impl Fn(&Ctr<'a>) -> bool) -> Vec<&'a str> {
        self.containers
            .iter()
            .filter(|c| bad(c))
            .map(|c| c.name)
            .collect()
    }
}

/// A check's result when it fails: (forbidden reason, forbidden detail).
pub(super) type Failure = Option<(String, String)>;

// --- wording helpers (upstream's joinQuote and pluralize) ------------------------------------

pub(super) fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let parts: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("\"{}\"", parts.join("\", \""))
}

pub(super) fn pluralize<'s>(singular: &'s str, plural: &'s str, count: usize) -> &'s str {
    if count == 1 { singular } else { plural }
}

/// `container "a"` / `containers "a", "b"`.
pub(super) fn containers_phrase(names: &[&str]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// Go's `%q` for the strings that occur here.
pub(super) fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

pub(super) fn fail(reason: impl Into<String>, detail: impl Into<String>) -> Failure {
    Some((reason.into(), detail.into()))
}

pub(super) fn sorted(set: BTreeSet<&str>) -> Vec<&str> {
    set.into_iter().collect()
}
