//! Whether one set of rules covers another (upstream's `Covers`), the basis of RBAC's
//! escalation prevention, and the compact description of what is missing.

use std::collections::BTreeMap;

use super::rule::PolicyRule;

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|i| has(set, i))
}

fn resource_covers_all(set: &[String], covers: &[String]) -> bool {
    if has(set, "*") || has_all(set, covers) {
        return true;
    }
    covers.iter().all(|path| {
        has(set, path)
            || path
                .split_once('/')
                .is_some_and(|(_, sub)| has(set, &format!("*/{sub}")))
    })
}

fn urls_cover_all(set: &[String], covers: &[String]) -> bool {
    covers.iter().all(|url| {
        set.iter().any(|owner| {
            owner == url
                || owner
                    .strip_suffix('*')
                    .is_some_and(|prefix| url.starts_with(prefix))
        })
    })
}

fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, "*") || has_all(&owner.verbs, &sub.verbs);
    let groups = has(&owner.api_groups, "*") || has_all(&owner.api_groups, &sub.api_groups);
    let names = owner.resource_names.is_empty()
        || (!sub.resource_names.is_empty() && has_all(&owner.resource_names, &sub.resource_names));
    verbs
        && groups
        && resource_covers_all(&owner.resources, &sub.resources)
        && names
        && urls_cover_all(&owner.non_resource_urls, &sub.non_resource_urls)
}

/// One rule split into rules of one group, resource, verb and name (or URL and verb).
pub fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |s: &String| vec![s.clone()];
    let mut out = Vec::new();
    for g in &rule.api_groups {
        for r in &rule.resources {
            for v in &rule.verbs {
                if rule.resource_names.is_empty() {
                    out.push(PolicyRule {
                        api_groups: one(g),
                        resources: one(r),
                        verbs: one(v),
                        ..Default::default()
                    });
                }
                for n in &rule.resource_names {
                    out.push(PolicyRule {
                        api_groups: one(g),
                        resources: one(r),
                        verbs: one(v),
                        resource_names: one(n),
                        ..Default::default()
                    });
                }
            }
        }
    }
    for u in &rule.non_resource_urls {
        for v in &rule.verbs {
            out.push(PolicyRule {
                non_resource_urls: one(u),
                verbs: one(v),
                ..Default::default()
            });
        }
    }
    out
}

/// Whether `owner` covers every rule of `servant`, and the atomic rules it does not.
pub fn covers(owner: &[PolicyRule], servant: &[PolicyRule]) -> (bool, Vec<PolicyRule>) {
    let missing: Vec<PolicyRule> = servant
        .iter()
        .flat_map(breakdown)
        .filter(|sub| !owner.iter().any(|o| rule_covers(o, sub)))
        .collect();
    (missing.is_empty(), missing)
}

/// Upstream's `CompactRules`: simple rules (one group, one resource, no names) of the same
/// group and resource merged into one with all their verbs.
pub fn compact(rules: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut simple: BTreeMap<(String, String), PolicyRule> = BTreeMap::new();
    let mut out = Vec::new();
    for r in rules {
        let is_simple = r.resource_names.is_empty()
            && r.non_resource_urls.is_empty()
            && r.api_groups.len() == 1
            && r.resources.len() == 1;
        if !is_simple {
            out.push(r.clone());
            continue;
        }
        let key = (r.api_groups[0].clone(), r.resources[0].clone());
        let entry = simple.entry(key).or_insert_with(|| PolicyRule {
            api_groups: r.api_groups.clone(),
            resources: r.resources.clone(),
            ..Default::default()
        });
        for v in &r.verbs {
            if !has(&entry.verbs, v) {
                entry.verbs.push(v.clone());
            }
        }
    }
    out.extend(simple.into_values());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        PolicyRule {
            verbs: s(verbs),
            api_groups: s(groups),
            resources: s(resources),
            ..Default::default()
        }
    }

    #[test]
    fn covering_like_upstream() {
        let owner = vec![
            rule(&["get", "list"], &[""], &["configmaps", "pods"]),
            rule(&["get"], &["apps"], &["*/scale"]),
        ];
        assert!(covers(&owner, &[rule(&["get"], &[""], &["pods"])]).0);
        assert!(covers(&owner, &[rule(&["get"], &["apps"], &["deployments/scale"])]).0);
        let (ok, missing) = covers(
            &owner,
            &[rule(
                &["get", "delete", "update"],
                &[""],
                &["pods", "secrets"],
            )],
        );
        assert!(!ok);
        let described: Vec<String> = compact(&missing)
            .iter()
            .map(PolicyRule::compact_string)
            .collect();
        assert_eq!(
            described,
            vec![
                r#"{APIGroups:[""], Resources:["pods"], Verbs:["delete" "update"]}"#,
                r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete" "update"]}"#,
            ]
        );
        let all = vec![rule(&["*"], &["*"], &["*"])];
        assert!(
            covers(
                &all,
                &[rule(
                    &["escalate"],
                    &["rbac.authorization.k8s.io"],
                    &["roles"]
                )]
            )
            .0
        );
        let named = PolicyRule {
            resource_names: vec!["a".into()],
            ..rule(&["get"], &[""], &["secrets"])
        };
        assert!(
            !covers(
                std::slice::from_ref(&named),
                &[rule(&["get"], &[""], &["secrets"])]
            )
            .0
        );
        assert!(covers(&[rule(&["get"], &[""], &["secrets"])], &[named]).0);
    }
}
