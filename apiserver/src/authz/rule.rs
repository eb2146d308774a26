//! RBAC policy rules and upstream's matching of request attributes against them.

use serde_json::Value;

use super::attributes::Attributes;

/// One `rules[]` entry of a Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRule {
    /// Verbs (`*` for all).
    pub verbs: Vec<String>,
    /// API groups (`*` for all, `""` for core).
    pub api_groups: Vec<String>,
    /// Resources (`*`, `pods`, `pods/log`, `*/scale`).
    pub resources: Vec<String>,
    /// Object names the rule is limited to (empty: any).
    pub resource_names: Vec<String>,
    /// Non-resource paths (`/healthz`, `/api/*`).
    pub non_resource_urls: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl PolicyRule {
    /// Reads one rule from its JSON form.
    pub fn from_json(v: &Value) -> Self {
        PolicyRule {
            verbs: strings(v.get("verbs")),
            api_groups: strings(v.get("apiGroups")),
            resources: strings(v.get("resources")),
            resource_names: strings(v.get("resourceNames")),
            non_resource_urls: strings(v.get("nonResourceURLs")),
        }
    }

    /// Reads the `rules` of a role object.
    pub fn list_from(obj: &Value) -> Vec<Self> {
        obj.get("rules")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(Self::from_json).collect())
            .unwrap_or_default()
    }

    /// The JSON form, with empty lists left out as upstream serializes them.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: &Vec<String>| {
            if !v.is_empty() {
                m.insert(k.into(), serde_json::json!(v));
            }
        };
        put("apiGroups", &self.api_groups);
        put("nonResourceURLs", &self.non_resource_urls);
        put("resourceNames", &self.resource_names);
        put("resources", &self.resources);
        m.insert("verbs".into(), serde_json::json!(self.verbs));
        Value::Object(m)
    }

    /// Whether this rule allows the request (upstream's `RuleAllows`).
    pub fn allows(&self, a: &Attributes) -> bool {
        if !verb_matches(&self.verbs, &a.verb) {
            return false;
        }
        match &a.resource {
            Some(r) => {
                group_matches(&self.api_groups, &r.group)
                    && resource_matches(&self.resources, &r.resource, &r.subresource)
                    && (self.resource_names.is_empty() || self.resource_names.contains(&r.name))
            }
            None => url_matches(&self.non_resource_urls, &a.path),
        }
    }

    /// Upstream's `CompactString`: `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`.
    pub fn compact_string(&self) -> String {
        let mut parts = Vec::new();
        for (label, list) in [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ] {
            if !list.is_empty() {
                parts.push(format!("{label}:{}", go_quoted_list(list)));
            }
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quoted_list(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// `*` or the verb itself.
pub fn verb_matches(verbs: &[String], verb: &str) -> bool {
    verbs.iter().any(|v| v == "*" || v == verb)
}

/// `*` or the group itself.
pub fn group_matches(groups: &[String], group: &str) -> bool {
    groups.iter().any(|g| g == "*" || g == group)
}

/// `*`, `resource`, `resource/sub`, or `*/sub` for a subresource request.
pub fn resource_matches(rules: &[String], resource: &str, subresource: &str) -> bool {
    let combined = if subresource.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}/{subresource}")
    };
    rules.iter().any(|r| {
        r == "*"
            || *r == combined
            || (!subresource.is_empty()
                && r.len() == subresource.len() + 2
                && r.starts_with("*/")
                && r.ends_with(subresource))
    })
}

/// `*`, the path itself, or a prefix ending in `*`.
pub fn url_matches(urls: &[String], path: &str) -> bool {
    urls.iter().any(|u| {
        u == "*"
            || u == path
            || u.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::attributes::ResourceAttributes;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        PolicyRule {
            verbs: s(verbs),
            api_groups: s(groups),
            resources: s(resources),
            resource_names: s(names),
            non_resource_urls: vec![],
        }
    }

    fn res(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource: Some(ResourceAttributes {
                group: group.into(),
                resource: resource.into(),
                subresource: sub.into(),
                name: name.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn resource_rules_like_upstream() {
        let r = rule(&["get", "list"], &[""], &["configmaps"], &[]);
        assert!(r.allows(&res("get", "", "configmaps", "", "x")));
        assert!(!r.allows(&res("watch", "", "configmaps", "", "")));
        assert!(!r.allows(&res("get", "apps", "configmaps", "", "")));
        assert!(!r.allows(&res("get", "", "configmaps", "status", "x")));
        let all = rule(&["*"], &["*"], &["*"], &[]);
        assert!(all.allows(&res("deletecollection", "apps", "deployments", "scale", "")));
        let sub = rule(&["create"], &[""], &["pods/exec"], &[]);
        assert!(sub.allows(&res("create", "", "pods", "exec", "web")));
        assert!(!sub.allows(&res("create", "", "pods", "", "web")));
        let star_sub = rule(&["get"], &["*"], &["*/scale"], &[]);
        assert!(star_sub.allows(&res("get", "apps", "deployments", "scale", "d")));
        assert!(!star_sub.allows(&res("get", "apps", "deployments", "status", "d")));
        assert!(!star_sub.allows(&res("get", "apps", "deployments", "", "d")));
        let named = rule(&["get"], &[""], &["secrets"], &["a"]);
        assert!(named.allows(&res("get", "", "secrets", "", "a")));
        assert!(!named.allows(&res("get", "", "secrets", "", "b")));
        assert!(!named.allows(&res("list", "", "secrets", "", "")));
    }

    #[test]
    fn non_resource_urls() {
        let r = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/healthz".into(), "/api/*".into()],
            ..Default::default()
        };
        let path = |p: &str| Attributes {
            verb: "get".into(),
            path: p.into(),
            ..Default::default()
        };
        assert!(r.allows(&path("/healthz")));
        assert!(!r.allows(&path("/healthz/etcd")));
        assert!(r.allows(&path("/api/v1")));
        assert!(!r.allows(&path("/api")));
        assert!(!r.allows(&res("get", "", "pods", "", "")));
    }

    #[test]
    fn compact_string_as_go_prints_it() {
        let r = rule(&["get", "list"], &["", "apps"], &["pods"], &[]);
        assert_eq!(
            r.compact_string(),
            r#"{APIGroups:["" "apps"], Resources:["pods"], Verbs:["get" "list"]}"#
        );
    }
}
