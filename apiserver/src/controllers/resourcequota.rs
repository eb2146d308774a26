//! The resource quota controller: measures what each quota's namespace uses and writes it to
//! `status` (with `status.hard` from `spec.hard`). As upstream, a new or changed quota is measured
//! at once, usage that can only shrink (deletions, pods ending, services and claims changing)
//! triggers a re-measure, and a full resync catches the rest; creates need none, because quota
//! admission charged them.

use std::sync::Arc;
use std::time::Duration;

use super::runtime::{Controller, Key, Requeue, keys_in, keys_of};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::quota::measure::{needs_measuring, status_of};
use crate::storage::{self, Actor};

const QUOTAS: &str = "/resourcequotas";

/// Upstream's `--resource-quota-sync-period` default.
const FULL_RESYNC: Duration = Duration::from_secs(300);

/// Kinds whose updates can lower what a namespace uses.
const SHRINKING_ON_UPDATE: &[&str] = &["/pods", "/services", "/persistentvolumeclaims"];

/// The resource quota controller.
pub struct ResourceQuotaController;

impl Controller for ResourceQuotaController {
    fn name(&self) -> &'static str {
        "resourcequota"
    }

    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key> {
        if change.storage == QUOTAS {
            let stale = !change.deleted
                && api
                    .store
                    .get(QUOTAS, &change.namespace, &change.name)
                    .and_then(|o| o.value().ok())
                    .is_some_and(|q| needs_measuring(&q));
            return if stale {
                vec![(change.namespace.clone(), change.name.clone())]
            } else {
                Vec::new()
            };
        }
        if change.namespace.is_empty()
            || !(change.deleted || SHRINKING_ON_UPDATE.contains(&change.storage.as_str()))
        {
            return Vec::new();
        }
        keys_in(api, QUOTAS, Some(&change.namespace))
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, QUOTAS)
    }

    fn resync(&self) -> Duration {
        FULL_RESYNC
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "", "resourcequotas")?;
        let actor = Actor::system("resourcequota-controller");
        let measure = |quota: &mut serde_json::Value| {
            let status = status_of(&api, quota);
            if quota.get("status") == Some(&status) {
                return false;
            }
            quota["status"] = status;
            true
        };
        storage::update(&api, &def, &actor, &key.0, &key.1, Some("status"), measure).await?;
        Ok(None)
    }
}
