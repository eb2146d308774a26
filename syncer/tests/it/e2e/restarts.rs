//! Restarts: of the syncer mid-burst, of a tenant API server, and a stopped tenant.

use std::collections::BTreeMap;
use std::time::Duration;

use crds::tenancy;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client, ResourceExt};

use super::*;
use crate::harness::*;

async fn super_pod_names(sc: &Client, key: &str) -> BTreeMap<String, String> {
    let api: Api<Pod> = Api::all(sc.clone());
    api.list(&ListParams::default().labels(tenancy::LABEL_VC_NAME))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| tenancy::owned_by(&p.annotations().clone(), key))
        .map(|p| {
            (
                format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()),
                p.annotations()
                    .get(tenancy::ANNOTATION_UID)
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_mid_burst_converges_without_loss_or_duplicates() {
    common::process::install_crypto_provider();
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a", "node-b"]).await;
    let tenants = three_tenants(&sc).await;
    for t in &tenants {
        tenant_ns(&t.client, "burst").await;
    }
    let syncer = start_syncer(&sc, syncer_config()).await;
    const PODS: usize = 40;
    let create = |t: &TenantEnv, range: std::ops::Range<usize>| {
        let client = t.client.clone();
        async move {
            let api: Api<Pod> = Api::namespaced(client, "burst");
            for i in range {
                api.create(&PostParams::default(), &pod(&format!("p{i}"), "busybox"))
                    .await
                    .expect("create pod");
            }
        }
    };
    // The first half is created concurrently while the syncer works on it.
    let burst: Vec<_> = tenants.iter().map(|t| create(t, 0..PODS / 2)).collect();
    let burst = tokio::spawn(futures::future::join_all(burst));
    // Stop the syncer while the first half is still being synced, then keep changing tenants.
    let first_key = tenants[0].key.clone();
    eventually("some pods synced before the restart", WAIT, || async {
        (!super_pod_names(&sc, &first_key).await.is_empty()).then_some(())
    })
    .await;
    syncer.shutdown().await.expect("shutdown");
    burst.await.expect("burst");
    let mut synced_before = 0;
    for t in &tenants {
        synced_before += super_pod_names(&sc, &t.key).await.len();
    }
    println!(
        "{synced_before} of {} pods were synced when the syncer stopped",
        3 * PODS / 2
    );
    for t in &tenants {
        create(t, PODS / 2..PODS).await;
        let api: Api<Pod> = Api::namespaced(t.client.clone(), "burst");
        for i in 0..5 {
            api.delete(
                &format!("p{i}"),
                &DeleteParams {
                    grace_period_seconds: Some(0),
                    ..Default::default()
                },
            )
            .await
            .expect("delete pod");
        }
    }
    let restarted = tokio::time::Instant::now();
    let syncer = start_syncer(&sc, syncer_config()).await;
    for t in &tenants {
        let vpods: Api<Pod> = Api::namespaced(t.client.clone(), "burst");
        let key = t.key.clone();
        let super_ns = t.super_ns("burst");
        eventually(
            &format!("{}: converged after restart", t.name),
            WAIT,
            || async {
                let tenant_pods = vpods.list(&ListParams::default()).await.ok()?.items;
                let all_running = tenant_pods
                    .iter()
                    .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
                let expected: BTreeMap<String, String> = tenant_pods
                    .iter()
                    .map(|p| {
                        (
                            format!("{super_ns}/{}", p.name_any()),
                            p.metadata.uid.clone().unwrap_or_default(),
                        )
                    })
                    .collect();
                let actual = super_pod_names(&sc, &key).await;
                (tenant_pods.len() == PODS - 5 && all_running && expected == actual).then_some(())
            },
        )
        .await;
    }
    println!("restart converged in {:?}", restarted.elapsed());
    syncer.shutdown().await.expect("shutdown");
    kubelet.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopped_tenant_does_not_stall_the_others_and_leases_renew() {
    common::process::install_crypto_provider();
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a"]).await;
    let mut tenants = three_tenants(&sc).await;
    let syncer = start_syncer(&sc, syncer_config()).await;
    for t in &tenants {
        tenant_ns(&t.client, "app").await;
        let api: Api<Pod> = Api::namespaced(t.client.clone(), "app");
        api.create(&PostParams::default(), &pod("first", "busybox"))
            .await
            .expect("pod");
    }
    for t in &tenants {
        eventually("first pods run", WAIT, || {
            running_bound(&t.client, "app", "first")
        })
        .await;
    }

    // vNode Leases in kube-node-lease renew.
    let leases: Api<Lease> = Api::namespaced(tenants[0].client.clone(), "kube-node-lease");
    let renew_time = |l: Lease| l.spec.and_then(|s| s.renew_time).map(|t| t.0);
    let first = eventually("vNode lease exists", WAIT, || async {
        leases.get_opt("node-a").await.ok()?.and_then(renew_time)
    })
    .await;
    eventually("vNode lease renewed", WAIT, || async {
        let now = leases.get_opt("node-a").await.ok()??;
        (renew_time(now)? > first).then_some(())
    })
    .await;

    // Stop beta's API server: alpha and gamma keep syncing.
    let beta = tenants[1].server.take().expect("server");
    beta.shutdown().await;
    for t in [&tenants[0], &tenants[2]] {
        let api: Api<Pod> = Api::namespaced(t.client.clone(), "app");
        api.create(&PostParams::default(), &pod("second", "busybox"))
            .await
            .expect("pod");
    }
    for t in [&tenants[0], &tenants[2]] {
        eventually(
            &format!("{}: syncs while beta is down", t.name),
            WAIT,
            || running_bound(&t.client, "app", "second"),
        )
        .await;
    }
    let key = tenants[1].key.clone();
    eventually("beta reported unhealthy", WAIT, || async {
        let text = reqwest_text(&format!("http://{}/metrics", syncer.ops_addr())).await;
        text.lines()
            .any(|l| {
                l.starts_with("syncer_tenant_healthy") && l.contains(&key) && l.ends_with(" 0")
            })
            .then_some(())
    })
    .await;
    syncer.shutdown().await.expect("shutdown");
    kubelet.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarted_tenant_api_server_is_followed_at_once() {
    common::process::install_crypto_provider();
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let builder = |addr: std::net::SocketAddr| {
        apiserver::ServerBuilder::new()
            .name("phoenix")
            .listen(addr)
            .data_dir(dir.path().join("data"))
            .cert_dir(dir.path().join("pki"))
    };
    let first = builder(([127, 0, 0, 1], 0).into())
        .start()
        .await
        .expect("tenant server");
    let addr = first.addr();
    let mut t = register_tenant(&sc, "phoenix", spec(), first).await;
    let syncer = start_syncer(&sc, syncer_config()).await;
    tenant_ns(&t.client, "app").await;
    let pods: Api<Pod> = Api::namespaced(t.client.clone(), "app");
    pods.create(&PostParams::default(), &pod("before", "busybox"))
        .await
        .expect("pod");
    eventually("pod before the restart runs", WAIT, || {
        running_bound(&t.client, "app", "before")
    })
    .await;

    // Restart: same data and PKI, but no watch history, so every watch of the syncer gets
    // 410 Gone and has to relist.
    t.server.take().expect("server").shutdown().await;
    let second = builder(addr)
        .start()
        .await
        .expect("restarted tenant server");
    let pods: Api<Pod> = Api::namespaced(second.client(), "app");
    pods.create(&PostParams::default(), &pod("after", "busybox"))
        .await
        .expect("pod after restart");
    let created = std::time::Instant::now();
    let spods: Api<Pod> = Api::namespaced(sc.clone(), &t.super_ns("app"));
    // Well inside the 19-42 s the issue saw with backoff after 410; a relist takes far less.
    eventually(
        "pod created after the restart reaches the super cluster",
        Duration::from_secs(10),
        || async { spods.get_opt("after").await.ok()? },
    )
    .await;
    println!(
        "pod after tenant restart in super after {:?}",
        created.elapsed()
    );
    t.server = Some(second);
    syncer.shutdown().await.expect("shutdown");
    kubelet.cancel();
}
