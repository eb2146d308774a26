//! Placement is the VirtualCluster's, not the tenant's: a tenant pod's tolerations, node
//! selector, node affinity, priority class and scheduler may only narrow what
//! `spec.placement` and `spec.podPolicy` allow. Refusals name the VC field that would allow them.

use crds::{Placement, PlacementToleration, PodPolicy};
use k8s_openapi::api::core::v1::{NodeSelectorTerm, PodSpec, Toleration};

use super::ConvertError;

/// Taints Kubernetes itself puts on nodes for their conditions; the tenant's admission and
/// DaemonSet controller add tolerations of these to pods, and tolerating them reaches no node
/// that another tenant owns.
pub const NODE_CONDITION_TAINTS: [&str; 7] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/network-unavailable",
];

/// The scheduler a pod gets when it names none.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// Rejects a pod spec whose placement reaches beyond what the VirtualCluster allows.
pub fn check(
    placement: &Placement,
    policy: &PodPolicy,
    spec: &PodSpec,
) -> Result<(), ConvertError> {
    check_tolerations(placement, spec.tolerations.as_deref().unwrap_or_default())?;
    check_node_selector(placement, spec)?;
    check_node_pinning(placement, spec)?;
    check_priority_class(policy, spec)?;
    check_scheduler(placement, spec)
}

/// Rejects tolerations that the placement's tolerations do not cover.
pub fn check_tolerations(
    placement: &Placement,
    tolerations: &[Toleration],
) -> Result<(), ConvertError> {
    for (i, t) in tolerations.iter().enumerate() {
        if is_node_condition(t) || placement.tolerations.iter().any(|g| covers(g, t)) {
            continue;
        }
        return Err(ConvertError::PolicyViolation {
            rule: "tolerations",
            allow: "spec.placement.tolerations".into(),
            detail: format!(
                "spec.tolerations[{i}] ({}) tolerates taints the VirtualCluster does not grant",
                describe(t)
            ),
        });
    }
    Ok(())
}

fn is_node_condition(t: &Toleration) -> bool {
    t.key
        .as_deref()
        .is_some_and(|k| NODE_CONDITION_TAINTS.contains(&k))
}

/// Whether granted toleration `g` tolerates everything tenant toleration `t` tolerates.
pub fn covers(g: &PlacementToleration, t: &Toleration) -> bool {
    let g_effect = g.effect.as_deref().unwrap_or_default();
    let t_effect = t.effect.as_deref().unwrap_or_default();
    if !g_effect.is_empty() && g_effect != t_effect {
        return false;
    }
    if let Some(limit) = g.toleration_seconds
        && t_effect == "NoExecute"
        && t.toleration_seconds.is_none_or(|s| s > limit)
    {
        return false;
    }
    let g_key = g.key.as_deref().unwrap_or_default();
    let t_key = t.key.as_deref().unwrap_or_default();
    let g_exists = g.operator.as_deref() == Some("Exists");
    if g_exists && g_key.is_empty() {
        return true;
    }
    if g_key != t_key || t_key.is_empty() {
        return false;
    }
    let t_exists = t.operator.as_deref() == Some("Exists");
    g_exists
        || (!t_exists
            && g.value.as_deref().unwrap_or_default() == t.value.as_deref().unwrap_or_default())
}

fn describe(t: &Toleration) -> String {
    let key = t
        .key
        .as_deref()
        .filter(|k| !k.is_empty())
        .unwrap_or("<every taint>");
    let op = t.operator.as_deref().unwrap_or("Equal");
    let effect = t
        .effect
        .as_deref()
        .filter(|e| !e.is_empty())
        .unwrap_or("<every effect>");
    match (op, t.value.as_deref()) {
        ("Exists", _) | (_, None) => format!("key {key}, operator {op}, effect {effect}"),
        (_, Some(v)) => format!("key {key}, operator {op}, value {v}, effect {effect}"),
    }
}

/// Rejects a nodeSelector that contradicts the placement's (it can only add labels).
fn check_node_selector(placement: &Placement, spec: &PodSpec) -> Result<(), ConvertError> {
    let Some(sel) = spec.node_selector.as_ref() else {
        return Ok(());
    };
    for (k, want) in &placement.node_selector {
        if let Some(v) = sel.get(k).filter(|v| *v != want) {
            return Err(ConvertError::PolicyViolation {
                rule: "nodeSelector",
                allow: "spec.placement.nodeSelector".into(),
                detail: format!(
                    "spec.nodeSelector[{k}]={v} contradicts the VirtualCluster's placement {k}={want}"
                ),
            });
        }
    }
    Ok(())
}

/// Rejects node affinity terms on `metadata.name` (a pod pinned to a named node) unless the
/// placement allows pinning.
fn check_node_pinning(placement: &Placement, spec: &PodSpec) -> Result<(), ConvertError> {
    if placement.allow_node_pinning {
        return Ok(());
    }
    let Some(na) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
    else {
        return Ok(());
    };
    let required = na
        .required_during_scheduling_ignored_during_execution
        .iter()
        .flat_map(|r| r.node_selector_terms.iter())
        .enumerate()
        .map(|(i, t)| {
            (
                format!("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{i}]"),
                t,
            )
        });
    let preferred = na
        .preferred_during_scheduling_ignored_during_execution
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| {
            (
                format!("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}].preference"),
                &p.preference,
            )
        });
    for (path, term) in required.chain(preferred) {
        if pins_node(term) {
            return Err(ConvertError::PolicyViolation {
                rule: "nodePinning",
                allow: "spec.placement.allowNodePinning".into(),
                detail: format!(
                    "{path}.matchFields selects nodes by metadata.name; tenant pods are placed by \
                     the super cluster's scheduler within the VirtualCluster's placement"
                ),
            });
        }
    }
    Ok(())
}

fn pins_node(term: &NodeSelectorTerm) -> bool {
    term.match_fields
        .iter()
        .flatten()
        .any(|f| f.key == "metadata.name")
}

/// Whether a priority class name is one the policy allows: the listed ones when a list is
/// given, otherwise any except the `system-*` classes.
pub fn priority_class_allowed(policy: &PodPolicy, name: &str) -> bool {
    match &policy.priority_classes {
        Some(allowed) => allowed.iter().any(|a| a == name),
        None => !name.starts_with("system-"),
    }
}

fn check_priority_class(policy: &PodPolicy, spec: &PodSpec) -> Result<(), ConvertError> {
    let Some(name) = spec
        .priority_class_name
        .as_deref()
        .filter(|n| !n.is_empty())
    else {
        return Ok(());
    };
    if priority_class_allowed(policy, name) {
        return Ok(());
    }
    Err(ConvertError::PolicyViolation {
        rule: "priorityClass",
        allow: "spec.podPolicy.priorityClasses".into(),
        detail: format!(
            "spec.priorityClassName {name:?} is not a priority class the VirtualCluster allows"
        ),
    })
}

fn check_scheduler(placement: &Placement, spec: &PodSpec) -> Result<(), ConvertError> {
    let Some(name) = spec.scheduler_name.as_deref().filter(|n| !n.is_empty()) else {
        return Ok(());
    };
    if name == DEFAULT_SCHEDULER || placement.scheduler_names.iter().any(|s| s == name) {
        return Ok(());
    }
    Err(ConvertError::PolicyViolation {
        rule: "schedulerName",
        allow: "spec.placement.schedulerNames".into(),
        detail: format!(
            "spec.schedulerName {name:?} is not a scheduler the VirtualCluster allows; the pod \
             would never be scheduled in the super cluster"
        ),
    })
}

/// Tolerations the tenant added to a pod after its super copy was made (Kubernetes allows
/// adding tolerations to a running pod): those of `wanted` that `existing` lacks.
pub fn added_tolerations(wanted: &[Toleration], existing: &[Toleration]) -> Vec<Toleration> {
    wanted
        .iter()
        .filter(|t| !existing.contains(t))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, PreferredSchedulingTerm,
    };

    use super::*;

    fn tol(key: Option<&str>, op: &str, value: Option<&str>, effect: Option<&str>) -> Toleration {
        Toleration {
            key: key.map(Into::into),
            operator: Some(op.into()),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            toleration_seconds: None,
        }
    }

    fn grant(
        key: Option<&str>,
        op: &str,
        value: Option<&str>,
        effect: Option<&str>,
    ) -> PlacementToleration {
        PlacementToleration {
            key: key.map(Into::into),
            operator: Some(op.into()),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            toleration_seconds: None,
        }
    }

    fn rule(r: Result<(), ConvertError>) -> &'static str {
        match r {
            Err(ConvertError::PolicyViolation { rule, .. }) => rule,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn tolerations_must_be_granted() {
        let none = Placement::default();
        let everything = tol(None, "Exists", None, None);
        assert_eq!(
            rule(check_tolerations(&none, std::slice::from_ref(&everything))),
            "tolerations"
        );
        let dedicated = tol(Some("dedicated"), "Equal", Some("b"), Some("NoSchedule"));
        assert_eq!(
            rule(check_tolerations(&none, std::slice::from_ref(&dedicated))),
            "tolerations"
        );
        // Node-condition tolerations that Kubernetes adds itself are always fine.
        let not_ready = Toleration {
            toleration_seconds: Some(300),
            ..tol(
                Some("node.kubernetes.io/not-ready"),
                "Exists",
                None,
                Some("NoExecute"),
            )
        };
        assert_eq!(check_tolerations(&none, &[not_ready]), Ok(()));

        let granted = Placement {
            tolerations: vec![grant(
                Some("dedicated"),
                "Equal",
                Some("a"),
                Some("NoSchedule"),
            )],
            ..Placement::default()
        };
        let own = tol(Some("dedicated"), "Equal", Some("a"), Some("NoSchedule"));
        assert_eq!(check_tolerations(&granted, &[own]), Ok(()));
        assert_eq!(
            rule(check_tolerations(&granted, &[dedicated])),
            "tolerations"
        );
        // Exists on the granted key would also tolerate other values.
        let wider = tol(Some("dedicated"), "Exists", None, Some("NoSchedule"));
        assert_eq!(rule(check_tolerations(&granted, &[wider])), "tolerations");
        // Every effect is wider than one effect.
        let all_effects = tol(Some("dedicated"), "Equal", Some("a"), None);
        assert_eq!(
            rule(check_tolerations(&granted, &[all_effects])),
            "tolerations"
        );
        assert_eq!(
            rule(check_tolerations(
                &granted,
                std::slice::from_ref(&everything)
            )),
            "tolerations"
        );

        let open = Placement {
            tolerations: vec![grant(None, "Exists", None, None)],
            ..Placement::default()
        };
        assert_eq!(check_tolerations(&open, &[everything]), Ok(()));
    }

    #[test]
    fn no_execute_seconds_are_bounded_by_the_grant() {
        let granted = Placement {
            tolerations: vec![PlacementToleration {
                toleration_seconds: Some(60),
                ..grant(Some("maint"), "Exists", None, Some("NoExecute"))
            }],
            ..Placement::default()
        };
        let forever = tol(Some("maint"), "Exists", None, Some("NoExecute"));
        assert_eq!(rule(check_tolerations(&granted, &[forever])), "tolerations");
        let short = Toleration {
            toleration_seconds: Some(30),
            ..tol(Some("maint"), "Exists", None, Some("NoExecute"))
        };
        assert_eq!(check_tolerations(&granted, &[short]), Ok(()));
    }

    fn spec() -> PodSpec {
        PodSpec::default()
    }

    #[test]
    fn node_selector_may_only_narrow() {
        let p = Placement {
            node_selector: BTreeMap::from([("class".into(), "gold".into())]),
            ..Placement::default()
        };
        let mut s = spec();
        s.node_selector = Some(BTreeMap::from([
            ("class".into(), "gold".into()),
            ("zone".into(), "a".into()),
        ]));
        assert_eq!(check(&p, &PodPolicy::default(), &s), Ok(()));
        s.node_selector = Some(BTreeMap::from([("class".into(), "b-dedicated".into())]));
        assert_eq!(rule(check(&p, &PodPolicy::default(), &s)), "nodeSelector");
    }

    fn pinned(required: bool) -> PodSpec {
        let term = NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec!["node-b".into()]),
            }]),
            match_expressions: None,
        };
        let na = if required {
            NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![term],
                }),
                ..NodeAffinity::default()
            }
        } else {
            NodeAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    PreferredSchedulingTerm {
                        weight: 1,
                        preference: term,
                    },
                ]),
                ..NodeAffinity::default()
            }
        };
        PodSpec {
            affinity: Some(Affinity {
                node_affinity: Some(na),
                ..Affinity::default()
            }),
            ..PodSpec::default()
        }
    }

    #[test]
    fn node_pinning_needs_the_placement_to_allow_it() {
        let p = Placement::default();
        assert_eq!(
            rule(check(&p, &PodPolicy::default(), &pinned(true))),
            "nodePinning"
        );
        assert_eq!(
            rule(check(&p, &PodPolicy::default(), &pinned(false))),
            "nodePinning"
        );
        let allow = Placement {
            allow_node_pinning: true,
            ..Placement::default()
        };
        assert_eq!(check(&allow, &PodPolicy::default(), &pinned(true)), Ok(()));
    }

    #[test]
    fn priority_classes() {
        let mut s = spec();
        s.priority_class_name = Some("system-node-critical".into());
        let default = PodPolicy::default();
        assert_eq!(
            rule(check(&Placement::default(), &default, &s)),
            "priorityClass"
        );
        s.priority_class_name = Some("batch-low".into());
        assert_eq!(check(&Placement::default(), &default, &s), Ok(()));
        let listed = PodPolicy {
            priority_classes: Some(vec!["gold".into()]),
            ..PodPolicy::default()
        };
        assert_eq!(
            rule(check(&Placement::default(), &listed, &s)),
            "priorityClass"
        );
        s.priority_class_name = Some("gold".into());
        assert_eq!(check(&Placement::default(), &listed, &s), Ok(()));
    }

    #[test]
    fn schedulers() {
        let mut s = spec();
        s.scheduler_name = Some("default-scheduler".into());
        assert_eq!(
            check(&Placement::default(), &PodPolicy::default(), &s),
            Ok(())
        );
        s.scheduler_name = Some("other".into());
        assert_eq!(
            rule(check(&Placement::default(), &PodPolicy::default(), &s)),
            "schedulerName"
        );
        let allow = Placement {
            scheduler_names: vec!["other".into()],
            ..Placement::default()
        };
        assert_eq!(check(&allow, &PodPolicy::default(), &s), Ok(()));
    }

    #[test]
    fn added_tolerations_are_the_new_ones() {
        let a = tol(Some("a"), "Exists", None, None);
        let b = tol(Some("b"), "Exists", None, None);
        assert_eq!(
            added_tolerations(&[a.clone(), b.clone()], std::slice::from_ref(&a)),
            vec![b]
        );
        let same = std::slice::from_ref(&a);
        assert!(added_tolerations(same, same).is_empty());
    }
}
