//! API Priority and Fairness configuration, as upstream's apiserver maintains it: the
//! mandatory and suggested bootstrap objects (`kinds/flowcontrol_bootstrap.rs`) ensured at
//! start and every minute, and each FlowSchema's `Dangling` condition (whether its priority
//! level exists) kept current on every FlowSchema or priority level change. The objects do not
//! govern request admission here (see docs/design.md).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::runtime::{Controller, Key, Requeue};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::kinds::flowcontrol_bootstrap::{Maintenance, maintain, objects};
use crate::storage::{self, Actor};

const GROUP: &str = "flowcontrol.apiserver.k8s.io";
const FLOW_SCHEMAS: &str = "flowcontrol.apiserver.k8s.io/flowschemas";
const PRIORITY_LEVELS: &str = "flowcontrol.apiserver.k8s.io/prioritylevelconfigurations";
const MANAGER: &str = "api-priority-and-fairness-config-consumer-v1";

/// Creates missing bootstrap objects and puts back the specs the server controls.
pub async fn ensure_bootstrap(api: &Api) -> Result<(), ApiError> {
    let actor = Actor::system("api-priority-and-fairness-config-producer-v1");
    for want in objects() {
        let def = storage::def(api, GROUP, want.resource)?;
        let name = crate::meta::name(&want.object).to_string();
        let have = storage::get(api, &def, "", &name);
        match maintain(have.as_ref(), &want) {
            Maintenance::Leave => {}
            Maintenance::Create => match storage::create(api, &def, &actor, want.object).await {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            },
            Maintenance::Update(_) => {
                storage::update(api, &def, &actor, "", &name, None, |cur| {
                    match maintain(Some(cur), &want) {
                        Maintenance::Update(next) => {
                            cur["spec"] = next["spec"].clone();
                            cur["metadata"]["annotations"] =
                                next["metadata"]["annotations"].clone();
                            true
                        }
                        _ => false,
                    }
                })
                .await?;
            }
        }
    }
    Ok(())
}

/// The `Dangling` condition of a FlowSchema referring to priority level `pl`.
pub fn dangling(pl: &str, exists: bool, previous: Option<&Value>) -> Value {
    let (status, reason, message) = if exists {
        (
            "False",
            "Found",
            format!(
                "This FlowSchema references the PriorityLevelConfiguration object named {pl:?} and it exists"
            ),
        )
    } else {
        (
            "True",
            "NotFound",
            format!(
                "This FlowSchema references the PriorityLevelConfiguration object named {pl:?} but there is no such object"
            ),
        )
    };
    let since = previous
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| {
            c.get("type").and_then(Value::as_str) == Some("Dangling")
                && c.get("status").and_then(Value::as_str) == Some(status)
        })
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(crate::meta::now()));
    json!({"conditions": [{"type": "Dangling", "status": status, "reason": reason,
        "message": message, "lastTransitionTime": since}]})
}

/// The APF configuration loop (`bootstrap` and `dangling` keys).
pub struct FlowControl;

impl Controller for FlowControl {
    fn name(&self) -> &'static str {
        "priority-and-fairness"
    }

    fn keys_for(&self, _api: &Api, change: &Change) -> Vec<Key> {
        match change.storage.as_str() {
            FLOW_SCHEMAS | PRIORITY_LEVELS => vec![(String::new(), "dangling".into())],
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, _api: &Api) -> Vec<Key> {
        vec![
            (String::new(), "bootstrap".into()),
            (String::new(), "dangling".into()),
        ]
    }

    fn resync(&self) -> Duration {
        Duration::from_secs(60)
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        if key.1 == "bootstrap" {
            ensure_bootstrap(&api).await?;
            return Ok(None);
        }
        let def = storage::def(&api, GROUP, "flowschemas")?;
        let levels: Vec<String> = storage::list_values(&api, PRIORITY_LEVELS, None)
            .iter()
            .map(|o| crate::meta::name(o).to_string())
            .collect();
        for fs in storage::list_values(&api, FLOW_SCHEMAS, None) {
            let pl = fs
                .pointer("/spec/priorityLevelConfiguration/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let status = dangling(&pl, levels.contains(&pl), fs.get("status"));
            super::runtime::write_status(&api, &def, &fs, MANAGER, status).await?;
        }
        Ok(None)
    }
}
