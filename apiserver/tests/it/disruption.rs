//! PodDisruptionBudgets: the disruption controller's status and evictions honouring it, as
//! kubectl and client-go see them.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::harness::{Kubectl, Raw, eventually, raw, server};

const VIOLATES: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// Creates Deployment `name` with `replicas` pods labelled `app=<name>` in `default`.
async fn deployment(client: &kube::Client, name: &str, replicas: i32) {
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}))
    .unwrap();
    deps.create(&PostParams::default(), &d).await.unwrap();
}

/// Plays the kubelet: every Pending pod with `app=<app>` becomes Running and Ready; returns
/// the live pods' names once there are `want` of them.
async fn ready_pods(client: &kube::Client, app: &str, want: usize) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually(15, || async {
        let l = pods
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .unwrap();
        let live: Vec<&Pod> = l
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        for p in &live {
            let phase = p.status.as_ref().and_then(|s| s.phase.clone());
            if phase.as_deref() != Some("Running") {
                set_phase(&pods, p.metadata.name.as_deref().unwrap(), true).await;
            }
        }
        (live.len() == want).then(|| {
            live.iter()
                .map(|p| p.metadata.name.clone().unwrap())
                .collect()
        })
    })
    .await
}

async fn set_phase(pods: &Api<Pod>, name: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": status}]}})),
    )
    .await
    .unwrap();
}

/// Waits until budget `name`'s status satisfies `ok`; returns it.
async fn budget_status(client: &kube::Client, name: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    eventually(15, || async {
        let b = pdbs.get(name).await.unwrap();
        let s = serde_json::to_value(b.status).unwrap();
        ok(&s).then_some(s)
    })
    .await
}

/// A client that hands 429s back instead of retrying them (kube-rs retries by default).
fn no_retry(srv: &apiserver::ServerHandle) -> kube::Client {
    let mut cfg = srv.kube_config();
    cfg.default_retry = false;
    kube::Client::try_from(cfg).unwrap()
}

/// POSTs an Eviction of `pod`; returns (HTTP status, body).
async fn evict(srv: &apiserver::ServerHandle, pod: &str) -> (u16, Value) {
    let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": pod, "namespace": "default"}});
    Raw(no_retry(srv))
        .send(
            http::Method::POST,
            &format!("/api/v1/namespaces/default/pods/{pod}/eviction"),
            "application/json",
            serde_json::to_vec(&body).unwrap(),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_gate_evictions_until_pods_are_replaced() {
    let srv = server().await;
    let client = srv.client();
    let kubectl = Kubectl::new(&srv);
    deployment(&client, "web", 3).await;
    let names = ready_pods(&client, "web", 3).await;
    kubectl.ok(&[
        "create",
        "pdb",
        "web",
        "--selector=app=web",
        "--max-unavailable=0",
    ]);
    let s = budget_status(&client, "web", |s| s["currentHealthy"] == 3).await;
    assert_eq!(s["desiredHealthy"], 3);
    assert_eq!(s["expectedPods"], 3);
    assert_eq!(s["disruptionsAllowed"], 0);
    assert_eq!(s["observedGeneration"], 1);
    let cond = &s["conditions"][0];
    assert_eq!(cond["type"], "DisruptionAllowed");
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "InsufficientPods");
    let table = kubectl.ok(&["get", "pdb", "web"]);
    assert!(table.contains("ALLOWED DISRUPTIONS"), "{table}");
    let row = table.lines().nth(1).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[..4], ["web", "N/A", "0", "0"], "{table}");

    // maxUnavailable 0: refused, with upstream's message and cause.
    let (code, body) = evict(&srv, &names[0]).await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(body["message"], VIOLATES);
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "DisruptionBudget",
            "message": "The disruption budget web needs 3 healthy pods and has 3 currently"}])
    );
    let path = format!("/api/v1/namespaces/default/pods/{}/eviction", names[0]);
    let ev = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": names[0]}});
    let (ok, _, err) = kubectl.run_stdin(
        &["create", "--raw", &path, "-f", "-"],
        Some(&ev.to_string()),
    );
    assert!(!ok && err.contains(VIOLATES), "{err}");

    // maxUnavailable 1: one eviction, then refusals until the pod is replaced and ready.
    kubectl.ok(&[
        "patch",
        "pdb",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"maxUnavailable":1}}"#,
    ]);
    let s = budget_status(&client, "web", |s| s["observedGeneration"] == 2).await;
    assert_eq!(s["disruptionsAllowed"], 1);
    assert_eq!(s["conditions"][0]["reason"], "SufficientPods");
    let pods: Api<Pod> = Api::namespaced(no_retry(&srv), "default");
    let st = pods
        .evict(&names[0], &EvictParams::default())
        .await
        .unwrap();
    assert_eq!(st.code, 201);
    eventually(10, || async {
        pods.get_opt(&names[0])
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let (code, body) = evict(&srv, &names[1]).await;
    assert_eq!(code, 429, "{body}");
    let s = budget_status(&client, "web", |s| s["currentHealthy"] == 2).await;
    assert_eq!(s["disruptionsAllowed"], 0);
    assert!(s.get("disruptedPods").is_none(), "{s}");
    let (code, body) = evict(&srv, &names[1]).await;
    assert_eq!(code, 429);
    assert_eq!(
        body["details"]["causes"][0]["message"],
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    );
    // The ReplicaSet's replacement becomes ready: one disruption is allowed again.
    ready_pods(&client, "web", 3).await;
    budget_status(&client, "web", |s| s["disruptionsAllowed"] == 1).await;
    let (code, body) = evict(&srv, &names[1]).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["status"], "Success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_and_unhealthy_pods_and_budget_edge_cases() {
    let srv = server().await;
    let client = srv.client();
    let kubectl = Kubectl::new(&srv);
    deployment(&client, "db", 2).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pending = eventually(10, || async {
        let l = pods
            .list(&ListParams::default().labels("app=db"))
            .await
            .unwrap();
        (l.items.len() == 2).then_some(l.items)
    })
    .await;
    kubectl.ok(&[
        "create",
        "pdb",
        "db",
        "--selector=app=db",
        "--min-available=2",
    ]);
    budget_status(&client, "db", |s| s["observedGeneration"] == 1).await;
    // A pending pod has disrupted nothing: it is evicted whatever the budget says.
    let (code, body) = evict(&srv, pending[0].metadata.name.as_deref().unwrap()).await;
    assert_eq!(code, 201, "{body}");

    let names = ready_pods(&client, "db", 2).await;
    budget_status(&client, "db", |s| s["currentHealthy"] == 2).await;
    // An unready pod of a budget that is not met is guarded (IfHealthyBudget)...
    set_phase(&pods, &names[0], false).await;
    budget_status(&client, "db", |s| s["currentHealthy"] == 1).await;
    let (code, body) = evict(&srv, &names[0]).await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["message"],
        "The disruption budget db needs 2 healthy pods and has 1 currently"
    );
    // ...unless the budget lets unhealthy pods go.
    kubectl.ok(&[
        "patch",
        "pdb",
        "db",
        "--type=merge",
        "-p",
        r#"{"spec":{"unhealthyPodEvictionPolicy":"AlwaysAllow"}}"#,
    ]);
    budget_status(&client, "db", |s| s["observedGeneration"] == 2).await;
    let (code, body) = evict(&srv, &names[0]).await;
    assert_eq!(code, 201, "{body}");

    // Two budgets selecting one pod: upstream's 500.
    kubectl.ok(&[
        "create",
        "pdb",
        "db2",
        "--selector=app=db",
        "--max-unavailable=1",
    ]);
    let (code, body) = evict(&srv, &names[1]).await;
    assert_eq!(code, 500, "{body}");
    assert_eq!(
        body["message"],
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    );
    assert!(body.get("reason").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_not_yet_observed_refuses_evictions() {
    common::process::install_crypto_provider();
    // No disruption controller: the budget's status never catches up with its generation.
    let srv = apiserver::ServerBuilder::new()
        .controllers(["*".to_string(), "-disruption".to_string()])
        .start()
        .await
        .unwrap();
    let client = srv.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "solo",
        "labels": {"app": "solo"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    set_phase(&pods, "solo", true).await;
    Kubectl::new(&srv).ok(&[
        "create",
        "pdb",
        "solo",
        "--selector=app=solo",
        "--min-available=0",
    ]);
    let (code, body) = evict(&srv, "solo").await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(body["message"], VIOLATES);
    assert_eq!(
        body["details"]["causes"][0]["message"],
        "The disruption budget solo is still being processed by the server."
    );
    assert_eq!(body["details"]["retryAfterSeconds"], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drain_is_held_by_a_budget() {
    let srv = server().await;
    let client = srv.client();
    let kubectl = Kubectl::new(&srv);
    kubectl.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}"#,
    );
    deployment(&client, "api", 1).await;
    let names = ready_pods(&client, "api", 1).await;
    let binding = json!({"apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": names[0]}, "target": {"kind": "Node", "name": "n1"}});
    let (code, body) = raw(&srv)
        .send(
            http::Method::POST,
            &format!("/api/v1/namespaces/default/pods/{}/binding", names[0]),
            "application/json",
            serde_json::to_vec(&binding).unwrap(),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    kubectl.ok(&[
        "create",
        "pdb",
        "api",
        "--selector=app=api",
        "--min-available=1",
    ]);
    budget_status(&client, "api", |s| s["currentHealthy"] == 1).await;
    let (ok, out, err) = kubectl.run(&[
        "drain",
        "n1",
        "--pod-selector=app=api",
        "--timeout=3s",
        "--grace-period=0",
    ]);
    assert!(!ok, "{out}");
    assert!(err.contains(VIOLATES), "{err}");
    kubectl.ok(&["delete", "pdb", "api"]);
    let out = kubectl.ok(&[
        "drain",
        "n1",
        "--pod-selector=app=api",
        "--timeout=10s",
        "--grace-period=0",
    ]);
    assert!(out.contains("evicted"), "{out}");
}
