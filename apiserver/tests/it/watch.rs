//! Watch semantics: ordered events, resumption, selector transitions, bookmarks, 410, and the
//! kube-runtime watcher recovering by re-listing.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::json;

use crate::harness::server;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

async fn next_event(
    s: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
) -> WatchEvent<ConfigMap> {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("event in time")
        .expect("stream open")
        .expect("no error")
}

fn kind(e: &WatchEvent<ConfigMap>) -> (&'static str, String) {
    match e {
        WatchEvent::Added(o) => ("ADDED", o.metadata.name.clone().unwrap()),
        WatchEvent::Modified(o) => ("MODIFIED", o.metadata.name.clone().unwrap()),
        WatchEvent::Deleted(o) => ("DELETED", o.metadata.name.clone().unwrap()),
        WatchEvent::Bookmark(_) => ("BOOKMARK", String::new()),
        WatchEvent::Error(e) => ("ERROR", e.message.clone()),
    }
}

#[tokio::test]
async fn events_in_order_and_resume_from_resource_version() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let first = cms
        .create(&PostParams::default(), &cm("w1", json!({})))
        .await
        .unwrap();
    let rv0 = first.metadata.resource_version.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv0)
        .await
        .unwrap()
        .boxed();
    cms.create(&PostParams::default(), &cm("w2", json!({})))
        .await
        .unwrap();
    cms.patch(
        "w2",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "b"}})),
    )
    .await
    .unwrap();
    cms.delete("w2", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    let mut last_rv = String::new();
    for _ in 0..3 {
        let e = next_event(&mut stream).await;
        if let WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) = &e {
            last_rv = o.metadata.resource_version.clone().unwrap();
        }
        seen.push(kind(&e));
    }
    assert_eq!(
        seen,
        vec![
            ("ADDED", "w2".into()),
            ("MODIFIED", "w2".into()),
            ("DELETED", "w2".into())
        ]
    );
    drop(stream);
    // Changes made while nobody watches arrive when resuming from the last version seen.
    cms.create(&PostParams::default(), &cm("w3", json!({})))
        .await
        .unwrap();
    let mut resumed = cms
        .watch(&WatchParams::default(), &last_rv)
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        kind(&next_event(&mut resumed).await),
        ("ADDED", "w3".into())
    );
}

#[tokio::test]
async fn initial_state_then_changes_for_resource_version_zero() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    cms.create(&PostParams::default(), &cm("i1", json!({})))
        .await
        .unwrap();
    let mut s = cms
        .watch(&WatchParams::default().fields("metadata.name=i1"), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(kind(&next_event(&mut s).await), ("ADDED", "i1".into()));
    cms.delete("i1", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        kind(&next_event(&mut s).await),
        ("DELETED", "i1".into()),
        "kubectl delete's wait pattern"
    );
}

#[tokio::test]
async fn selector_transitions_become_added_and_deleted() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let c = cms
        .create(&PostParams::default(), &cm("t1", json!({"app": "a"})))
        .await
        .unwrap();
    let rv = c.metadata.resource_version.unwrap();
    let mut s = cms
        .watch(&WatchParams::default().labels("app=b"), &rv)
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "t1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "b"}}})),
    )
    .await
    .unwrap();
    assert_eq!(kind(&next_event(&mut s).await), ("ADDED", "t1".into()));
    cms.patch(
        "t1",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    assert_eq!(kind(&next_event(&mut s).await), ("MODIFIED", "t1".into()));
    cms.patch(
        "t1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "c"}}})),
    )
    .await
    .unwrap();
    assert_eq!(kind(&next_event(&mut s).await), ("DELETED", "t1".into()));
}

#[tokio::test]
async fn too_old_resource_version_is_410_expired() {
    common::process::install_crypto_provider();
    let srv = apiserver::ServerBuilder::new()
        .watch_cache_size(5)
        .start()
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let c = cms
        .create(&PostParams::default(), &cm("old", json!({})))
        .await
        .unwrap();
    let rv = c.metadata.resource_version.unwrap();
    for i in 0..10 {
        cms.create(&PostParams::default(), &cm(&format!("n{i}"), json!({})))
            .await
            .unwrap();
    }
    let mut s = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut s).await {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected 410, got {:?}", kind(&other)),
    }
}

#[tokio::test]
async fn streaming_list_ends_initial_events_with_a_bookmark() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    cms.create(&PostParams::default(), &cm("b1", json!({})))
        .await
        .unwrap();
    let wp = WatchParams::default()
        .initial_events()
        .fields("metadata.name=b1");
    let mut s = cms.watch(&wp, "").await.unwrap().boxed();
    assert_eq!(kind(&next_event(&mut s).await), ("ADDED", "b1".into()));
    match next_event(&mut s).await {
        WatchEvent::Bookmark(b) => {
            assert_eq!(
                b.metadata
                    .annotations
                    .get("k8s.io/initial-events-end")
                    .map(String::as_str),
                Some("true")
            );
        }
        other => panic!("expected a bookmark, got {:?}", kind(&other)),
    }
}

#[tokio::test]
async fn runtime_watcher_relists_after_410() {
    common::process::install_crypto_provider();
    let srv = apiserver::ServerBuilder::new()
        .watch_cache_size(5)
        .start()
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let cfg = watcher::Config::default().labels("app=x").timeout(1);
    let mut events = watcher(cms.clone(), cfg).boxed();
    let mut inits = 0;
    let mut applied = Vec::new();
    let mut stage = 0;
    let mut errors = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let ev = tokio::time::timeout(Duration::from_secs(3), events.try_next()).await;
        match ev {
            Ok(Ok(Some(watcher::Event::Init))) => inits += 1,
            Ok(Ok(Some(watcher::Event::Apply(o)) | Some(watcher::Event::InitApply(o)))) => {
                applied.push(o.metadata.name.unwrap())
            }
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => break,
            // The watcher reports the 410 and then recovers on its own by re-listing.
            Ok(Err(e)) => errors.push(e.to_string()),
            Err(_) => {}
        }
        if stage == 0 && inits >= 1 {
            cms.create(&PostParams::default(), &cm("seen1", json!({"app": "x"})))
                .await
                .unwrap();
            stage = 1;
        } else if stage == 1 && applied.contains(&"seen1".to_string()) {
            // Unrelated writes push the watcher's version out of the 5-event history.
            for i in 0..12 {
                cms.create(&PostParams::default(), &cm(&format!("noise{i}"), json!({})))
                    .await
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
            cms.create(&PostParams::default(), &cm("seen2", json!({"app": "x"})))
                .await
                .unwrap();
            stage = 2;
        } else if stage == 2 && applied.contains(&"seen2".to_string()) {
            break;
        }
    }
    assert!(
        applied.contains(&"seen2".to_string()),
        "watcher recovered: {applied:?}"
    );
    assert!(
        inits >= 2,
        "the watcher re-listed after 410 (inits = {inits})"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("too old resource version")),
        "{errors:?}"
    );
}
