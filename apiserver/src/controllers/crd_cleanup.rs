//! Deleting a CRD deletes its custom resources first, then drops the cleanup finalizer.

use std::sync::Arc;
use std::time::Duration;

use super::runtime::{Controller, Key, Requeue, keys_of};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::kinds::crd::CLEANUP_FINALIZER;
use crate::registry::custom::defs_from_crd;
use crate::storage::Actor;
use crate::storage::{DeleteOptions, delete_object};
use crate::{meta, storage};

const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// The CRD cleanup controller.
pub struct CrdCleanup;

impl Controller for CrdCleanup {
    fn name(&self) -> &'static str {
        "crd-cleanup"
    }

    fn keys_for(&self, _api: &Api, change: &Change) -> Vec<Key> {
        if change.storage == CRDS {
            vec![(String::new(), change.name.clone())]
        } else {
            Vec::new()
        }
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, CRDS)
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "apiextensions.k8s.io", "customresourcedefinitions")?;
        let Some(crd) = storage::get(&api, &def, "", &key.1) else {
            return Ok(None);
        };
        if !meta::is_deleting(&crd)
            || !meta::finalizers(&crd)
                .iter()
                .any(|f| f == CLEANUP_FINALIZER)
        {
            return Ok(None);
        }
        // Serve the CRD's resources for the deletion even though it is terminating.
        let Some(cr_def) = defs_from_crd(&crd).into_iter().next() else {
            return Ok(None);
        };
        let items = api
            .store
            .list(&cr_def.storage, None, None, None, |_, _| true)
            .items;
        for so in &items {
            let Ok(v) = so.value() else { continue };
            if meta::is_deleting(&v) {
                continue;
            }
            match delete_object(
                &api,
                &cr_def,
                meta::namespace(&v),
                meta::name(&v),
                &DeleteOptions::default(),
            )
            .await
            {
                Ok(_) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        if !api
            .store
            .list(&cr_def.storage, None, None, None, |_, _| true)
            .items
            .is_empty()
        {
            return Ok(Some(Duration::from_millis(500)));
        }
        storage::update(
            &api,
            &def,
            &Actor::system("apiextensions-controller"),
            "",
            &key.1,
            None,
            |c| {
                let fins: Vec<String> = meta::finalizers(c)
                    .into_iter()
                    .filter(|f| f != CLEANUP_FINALIZER)
                    .collect();
                meta::set_finalizers(c, &fins);
                true
            },
        )
        .await?;
        Ok(None)
    }
}
