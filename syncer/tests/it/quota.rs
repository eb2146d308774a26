//! Per-tenant quota enforced by the syncer before it creates anything in the super cluster:
//! a greedy tenant with `pods=100` bursts a 3,000-replica Deployment while another tenant
//! creates one pod.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crds::{TenantQuota, VirtualCluster, VirtualClusterSpec};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod, ResourceQuota};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

use super::harness::*;

const REPLICAS: usize = 3000;
const LIMIT: usize = 100;
const WAIT: Duration = Duration::from_secs(180);

fn spec(quota: Option<usize>) -> VirtualClusterSpec {
    VirtualClusterSpec {
        cluster_version_name: "cv".into(),
        quota: quota.map(|n| TenantQuota {
            hard: BTreeMap::from([("pods".to_string(), n.to_string())]),
        }),
        ..VirtualClusterSpec::default()
    }
}

fn deployment(name: &str, replicas: usize) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "nginx"}]}
            }
        }
    }))
    .expect("deployment")
}

/// Names of the live super pods in `super_ns`.
async fn super_pods(sc: &Client, super_ns: &str) -> BTreeSet<String> {
    let api: Api<Pod> = Api::namespaced(sc.clone(), super_ns);
    api.list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| p.name_any())
                .collect()
        })
        .unwrap_or_default()
}

fn held_back(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("TenantQuotaExceeded")
        })
}

fn running(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// Waits until the tenant's super namespace holds `n` pods, then checks it stays so.
async fn settles_at(sc: &Client, super_ns: &str, n: usize, what: &str) -> BTreeSet<String> {
    eventually(what, WAIT, || async {
        let names = super_pods(sc, super_ns).await;
        assert!(names.len() <= n, "{what}: {} super pods > {n}", names.len());
        (names.len() == n).then_some(())
    })
    .await;
    // A patrol interval and a few housekeeping ticks later, still exactly n.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let names = super_pods(sc, super_ns).await;
    assert_eq!(names.len(), n, "{what}: not stable");
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_holds_a_greedy_tenant_back_without_starving_others() {
    let started = Instant::now();
    let sup = super_cluster().await;
    let sc = sup.client();
    let kubelet = fake_kubelet(&sc, &["node-a", "node-b"]).await;
    let a = add_tenant(&sc, "greedy", spec(Some(LIMIT))).await;
    let b = add_tenant(&sc, "modest", spec(None)).await;
    tenant_ns(&a.client, "burst").await;
    tenant_ns(&b.client, "app").await;
    let syncer = start_syncer(&sc, syncer_config()).await;
    let a_super = a.super_ns("burst");

    // The syncer serves both tenants (one ordinary pod each way is enough to know).
    let b_pods: Api<Pod> = Api::namespaced(b.client.clone(), "app");
    b_pods
        .create(&PostParams::default(), &pod("warmup", "nginx"))
        .await
        .expect("warmup pod");
    eventually("b's warmup pod Running", WAIT, || {
        running_bound(&b.client, "app", "warmup")
    })
    .await;

    // Tenant a bursts; tenant b creates one pod in the middle of it.
    let deployments: Api<Deployment> = Api::namespaced(a.client.clone(), "burst");
    deployments
        .create(&PostParams::default(), &deployment("web", REPLICAS))
        .await
        .expect("deployment");
    let a_pods: Api<Pod> = Api::namespaced(a.client.clone(), "burst");
    eventually("the burst under way", WAIT, || async {
        let n = a_pods.list(&ListParams::default()).await.ok()?.items.len();
        (n >= REPLICAS / 5).then_some(())
    })
    .await;
    let t0 = Instant::now();
    b_pods
        .create(&PostParams::default(), &pod("web", "nginx"))
        .await
        .expect("b's pod");
    loop {
        if running_bound(&b.client, "app", "web").await.is_some() {
            break;
        }
        if std::env::var("QDEBUG").is_ok() {
            let n = a_pods
                .list(&ListParams::default())
                .await
                .map(|l| l.items.len())
                .unwrap_or(0);
            let bp = b_pods.get_opt("web").await.ok().flatten();
            let sp = super_pods(&sc, &b.super_ns("app")).await;
            eprintln!(
                "{:?} a pods {n}, b super {:?}, b node {:?}",
                t0.elapsed(),
                sp,
                bp.and_then(|p| p.spec.and_then(|s| s.node_name))
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(t0.elapsed() < WAIT, "b's pod never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let b_latency = t0.elapsed();
    eprintln!("quota: b's pod Running {b_latency:?} after creation, during a's burst");
    assert!(
        b_latency <= Duration::from_secs(2),
        "b's pod took {b_latency:?} to run during a's burst"
    );

    // Exactly the limit reaches the super cluster; every other pod of a waits, marked.
    let t1 = Instant::now();
    let all = eventually("a's pods all created and held back", WAIT, || async {
        let list = a_pods.list(&ListParams::default()).await.ok()?.items;
        let held = list.iter().filter(|p| held_back(p)).count();
        (list.len() == REPLICAS && held == REPLICAS - LIMIT).then_some(list)
    })
    .await;
    eprintln!(
        "quota: {REPLICAS} pods created and {} held back {:?} after b's pod ran",
        REPLICAS - LIMIT,
        t1.elapsed()
    );
    let admitted = settles_at(&sc, &a_super, LIMIT, "a's super pods at the limit").await;
    for p in &all {
        assert_eq!(
            held_back(p),
            !admitted.contains(&p.name_any()),
            "{}",
            p.name_any()
        );
    }
    let events: Api<Event> = Api::namespaced(a.client.clone(), "burst");
    let warning = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("TenantQuotaExceeded"))
        .expect("a TenantQuotaExceeded event");
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let msg = warning.message.unwrap_or_default();
    assert!(
        msg.contains("spec.quota.hard")
            && msg.contains("requested: pods=1, used: pods=100, limited: pods=100"),
        "{msg}"
    );

    // Visible: status.quota on the VC, the gauges, the backstop ResourceQuota.
    let vcs: Api<VirtualCluster> = Api::namespaced(sc.clone(), VC_NAMESPACE);
    eventually("status.quota with 100 of 100 pods used", WAIT, || async {
        let q = vcs.get("greedy").await.ok()?.status?.quota?;
        (q.used.get("pods")? == "100" && q.hard.get("pods")? == "100").then_some(())
    })
    .await;
    let metrics = syncer.metrics();
    let gauge = format!(
        "syncer_tenant_quota_used{{resource=\"pods\",tenant=\"{}\"}} 100",
        a.key
    );
    eventually("the used gauge", WAIT, || async {
        metrics.render().contains(&gauge).then_some(())
    })
    .await;
    let rqs: Api<ResourceQuota> = Api::namespaced(sc.clone(), &a_super);
    eventually("the backstop ResourceQuota", WAIT, || async {
        let rq = rqs.get_opt("vc-tenant-quota").await.ok()??;
        let hard = rq.spec?.hard?;
        (hard.get("pods")?.0 == "100").then_some(())
    })
    .await;

    // Deleting 10 of a's running pods admits exactly the 10 that waited longest; the
    // ReplicaSet's replacements join the end of the line.
    let before = super_pods(&sc, &a_super).await;
    let victims: Vec<String> = all
        .iter()
        .filter(|p| before.contains(&p.name_any()))
        .take(10)
        .map(|p| p.name_any())
        .collect();
    let waiting_before: BTreeSet<String> = all
        .iter()
        .filter(|p| !before.contains(&p.name_any()))
        .map(|p| p.name_any())
        .collect();
    for name in &victims {
        a_pods
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete a pod");
    }
    let after = eventually("10 victims replaced in super", WAIT, || async {
        let now = super_pods(&sc, &a_super).await;
        assert!(now.len() <= LIMIT, "{} super pods", now.len());
        (now.len() == LIMIT && victims.iter().all(|v| !now.contains(v))).then_some(now)
    })
    .await;
    let newly: Vec<&String> = after.difference(&before).collect();
    assert_eq!(newly.len(), 10, "{newly:?}");
    assert!(
        newly.iter().all(|n| waiting_before.contains(*n)),
        "admitted pods that were not waiting before (replacements overtook the line): {newly:?}"
    );
    settles_at(&sc, &a_super, LIMIT, "a's super pods back at the limit").await;

    // A raised limit applies without a restart: 20 more.
    vcs.patch(
        "greedy",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"quota": {"hard": {"pods": "120"}}}})),
    )
    .await
    .expect("raise the quota");
    settles_at(
        &sc,
        &a_super,
        LIMIT + 20,
        "a's super pods at the raised limit",
    )
    .await;
    eventually("120 of a's pods Running in the tenant", WAIT, || async {
        let list = a_pods.list(&ListParams::default()).await.ok()?.items;
        (list.iter().filter(|p| running(p)).count() == LIMIT + 20).then_some(())
    })
    .await;
    eprintln!("quota: whole test took {:?}", started.elapsed());

    kubelet.cancel();
    syncer.shutdown().await.expect("syncer shutdown");
}
