//! Upstream's clusterrole-aggregation controller: a ClusterRole with an `aggregationRule` gets
//! the rules of every other ClusterRole its `clusterRoleSelectors` match (selectors in order,
//! roles by name, duplicates dropped).

use std::sync::Arc;

use serde_json::{Value, json};

use super::runtime::{Controller, Key, Requeue};
use crate::api::{Api, Change};
use crate::authz::index::CLUSTER_ROLES;
use crate::error::ApiError;
use crate::kinds::workload::selector_from_json;
use crate::storage::Actor;
use crate::{meta, storage};

/// The ClusterRole aggregation controller.
pub struct ClusterRoleAggregation;

fn cluster_roles(api: &Api) -> Vec<Value> {
    api.store
        .list(CLUSTER_ROLES, None, None, None, |_, _| true)
        .items
        .iter()
        .filter_map(|o| o.value().ok())
        .collect()
}

fn selectors(role: &Value) -> Option<&Vec<Value>> {
    role.pointer("/aggregationRule/clusterRoleSelectors")
        .and_then(Value::as_array)
}

/// The rules an aggregated role should have, given every ClusterRole (sorted by name).
pub fn aggregated_rules(role: &Value, all: &[Value]) -> Option<Vec<Value>> {
    let mut rules: Vec<Value> = Vec::new();
    for sel in selectors(role)? {
        let selector = selector_from_json(sel)?;
        for other in all {
            if meta::name(other) == meta::name(role) {
                continue;
            }
            let labels = meta::labels(other);
            if !selector.matches_map(&labels) {
                continue;
            }
            for r in other
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !rules.contains(r) {
                    rules.push(r.clone());
                }
            }
        }
    }
    Some(rules)
}

impl Controller for ClusterRoleAggregation {
    fn name(&self) -> &'static str {
        "clusterrole-aggregation"
    }

    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key> {
        if change.storage != CLUSTER_ROLES {
            return Vec::new();
        }
        // Any ClusterRole may feed any aggregated one: recheck the (few) aggregated roles.
        self.all_keys(api)
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        cluster_roles(api)
            .iter()
            .filter(|r| selectors(r).is_some())
            .map(|r| (String::new(), meta::name(r).to_string()))
            .collect()
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "rbac.authorization.k8s.io", "clusterroles")?;
        let Some(role) = storage::get(&api, &def, "", &key.1) else {
            return Ok(None);
        };
        let mut all = cluster_roles(&api);
        all.sort_by(|a, b| meta::name(a).cmp(meta::name(b)));
        let Some(rules) = aggregated_rules(&role, &all) else {
            return Ok(None);
        };
        let rules = json!(rules);
        if role.get("rules").unwrap_or(&json!([])) == &rules {
            return Ok(None);
        }
        storage::update(
            &api,
            &def,
            &Actor::system("clusterrole-aggregation-controller"),
            "",
            &key.1,
            None,
            |r| {
                if r.get("rules") == Some(&rules) {
                    return false;
                }
                r["rules"] = rules.clone();
                true
            },
        )
        .await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_matching_roles_once() {
        let view = json!({"metadata": {"name": "view"}, "aggregationRule": {"clusterRoleSelectors": [
            {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]}, "rules": []});
        let rule = json!({"apiGroups": ["x.io"], "resources": ["widgets"], "verbs": ["get"]});
        let a = json!({"metadata": {"name": "a", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}, "rules": [rule]});
        let b = json!({"metadata": {"name": "b", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}, "rules": [rule]});
        let c = json!({"metadata": {"name": "c"}, "rules": [{"verbs": ["*"]}]});
        let all = vec![a, b, c, view.clone()];
        assert_eq!(aggregated_rules(&view, &all), Some(vec![rule]));
        assert_eq!(aggregated_rules(&all[2], &all), None);
    }
}
