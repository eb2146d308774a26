//! Running a watch into a store: objects are decoded without `managedFields`, pruned, stored,
//! and every change is handed to a handler.

use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::spec::{Change, WatchSpec, Watched};
use super::store::Store;
use super::trim::Trimmed;

/// Keeps `store` in step with the API server (a watch of every namespace) until `cancel` fires, calling `handler` for every
/// change after the store was updated.
pub async fn run_watch<K, H>(
    client: Client,
    spec: WatchSpec<K>,
    store: Arc<Store<K>>,
    handler: H,
    cancel: CancellationToken,
) where
    K: Watched,
    H: Fn(Change<'_, K>) + Send + Sync,
{
    let api: Api<Trimmed<K>> = Api::all(client);
    let mut cfg = watcher::Config::default();
    if let Some(l) = &spec.labels {
        cfg = cfg.labels(l);
    }
    if let Some(f) = &spec.fields {
        cfg = cfg.fields(f);
    }
    let kind = K::kind(&()).to_string();
    let start = || watcher(api.clone(), cfg.clone()).boxed();
    let mut stream = start();
    let mut buffer: Vec<K> = Vec::new();
    let mut failures = 0u32;
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = stream.next() => e,
        };
        let Some(event) = event else { return };
        if event.is_ok() {
            failures = 0;
        }
        match event {
            Ok(watcher::Event::Init) => buffer.clear(),
            Ok(watcher::Event::InitApply(Trimmed(mut obj))) => {
                (spec.prune)(&mut obj);
                if (spec.keep)(&obj) {
                    buffer.push(obj);
                }
            }
            Ok(watcher::Event::InitDone) => {
                let objs = std::mem::take(&mut buffer);
                let gone = store.replace(objs);
                for obj in &gone {
                    handler(Change::Deleted(obj));
                }
                for obj in store.list() {
                    handler(Change::Listed(&obj));
                }
                store.mark_synced();
                tracing::debug!(kind, objects = store.len(), "cache synced");
            }
            Ok(watcher::Event::Apply(Trimmed(mut obj))) => {
                (spec.prune)(&mut obj);
                if (spec.keep)(&obj) {
                    let obj = store.apply(obj);
                    handler(Change::Applied(&obj));
                } else {
                    let ns = obj.namespace().unwrap_or_default();
                    if let Some(old) = store.remove(&ns, &obj.name_any()) {
                        handler(Change::Deleted(&old));
                    }
                }
            }
            Ok(watcher::Event::Delete(Trimmed(obj))) => {
                let ns = obj.namespace().unwrap_or_default();
                let old = store.remove(&ns, &obj.name_any());
                handler(Change::Deleted(old.as_deref().unwrap_or(&obj)));
            }
            Err(e) if history_expired(&e) => {
                // The server has no history at our resourceVersion (it restarted or compacted):
                // only a fresh list can catch up, and waiting would delay every change.
                tracing::info!(kind, "watch history expired (410 Gone); relisting now");
                stream = start();
            }
            Err(e) => {
                failures += 1;
                let delay = WATCH_BACKOFF.delay(failures);
                tracing::warn!(kind, error = %e, retry_in = ?delay, "watch failed; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Retry delays of a failing watch: short, so a tenant API server that comes back is followed
/// within seconds (its health probe reports it healthy about as soon).
const WATCH_BACKOFF: crate::queue::Backoff = crate::queue::Backoff {
    base: std::time::Duration::from_millis(200),
    cap: std::time::Duration::from_secs(5),
    max_retries: u32::MAX,
};

/// Whether a watch error means the server no longer has the history we asked for (410 Gone),
/// either as a watch event or as the answer to starting the watch.
pub fn history_expired(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::WatchError(s) => s.code == 410,
        watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::InitialListFailed(kube::Error::Api(s)) => s.code == 410,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_means_relist() {
        let gone = kube::core::Status {
            code: 410,
            ..kube::core::Status::default()
        };
        assert!(history_expired(&watcher::Error::WatchError(Box::new(
            gone.clone()
        ))));
        assert!(history_expired(&watcher::Error::WatchStartFailed(
            kube::Error::Api(Box::new(gone))
        )));
        let other = kube::core::Status {
            code: 500,
            ..kube::core::Status::default()
        };
        assert!(!history_expired(&watcher::Error::WatchError(Box::new(
            other
        ))));
        assert!(!history_expired(&watcher::Error::NoResourceVersion));
    }
}
