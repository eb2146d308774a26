//! HorizontalPodAutoscalers: `autoscaling/v1` beside v2, and the controller's report without a
//! metrics API, as kubectl 1.28 and the current kubectl see them.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use crate::harness::{Kubectl, eventually, raw, server};

const NO_METRICS: &str = "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)";

async fn get(srv: &apiserver::ServerHandle, version: &str, name: &str) -> Value {
    let path =
        format!("/apis/autoscaling/{version}/namespaces/default/horizontalpodautoscalers/{name}");
    let (code, body) = raw(srv)
        .send(http::Method::GET, &path, "application/json", Vec::new())
        .await;
    assert_eq!(code, 200, "{body}");
    body
}

fn condition<'a>(hpa: &'a Value, kind: &str) -> Option<&'a Value> {
    hpa.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

async fn autoscale_with(kubectl: &Kubectl) {
    let srv_hint = kubectl.kubeconfig().display().to_string();
    let out = kubectl.ok(&[
        "autoscale",
        "deployment",
        "web",
        "--cpu-percent=50",
        "--min=1",
        "--max=3",
    ]);
    assert!(out.contains("autoscaled"), "{out} ({srv_hint})");
}

async fn autoscaling_is_reported(srv: &apiserver::ServerHandle, kubectl: &Kubectl) {
    let deps: Api<Deployment> = Api::namespaced(srv.client(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}))
    .unwrap();
    deps.create(&PostParams::default(), &d).await.unwrap();
    autoscale_with(kubectl).await;

    let v2 = eventually(15, || async {
        let h = get(srv, "v2", "web").await;
        condition(&h, "ScalingActive").is_some().then_some(h)
    })
    .await;
    assert_eq!(
        v2["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 50}}}])
    );
    assert_eq!(v2["status"]["currentReplicas"], 2);
    assert_eq!(v2["status"]["desiredReplicas"], 0);
    let able = condition(&v2, "AbleToScale").unwrap();
    assert_eq!(able["status"], "True");
    assert_eq!(able["reason"], "SucceededGetScale");
    assert_eq!(
        able["message"],
        "the HPA controller was able to get the target's current scale"
    );
    let active = condition(&v2, "ScalingActive").unwrap();
    assert_eq!(active["status"], "False");
    assert_eq!(active["reason"], "FailedGetResourceMetric");
    assert_eq!(active["message"], NO_METRICS);

    // The same object as autoscaling/v1: the CPU target, conditions in an annotation.
    let v1 = get(srv, "v1", "web").await;
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 50);
    assert_eq!(v1["spec"]["minReplicas"], 1);
    assert_eq!(v1["status"]["currentReplicas"], 2);
    let conds = v1["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/conditions"]
        .as_str()
        .unwrap();
    assert!(conds.contains("FailedGetResourceMetric"), "{conds}");
    assert!(v1["spec"].get("metrics").is_none());

    let table = kubectl.ok(&["get", "hpa"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE"
        ]
    );
    let row = table.lines().nth(1).unwrap();
    assert!(row.starts_with("web"), "{table}");
    assert!(row.contains("Deployment/web"), "{table}");
    assert!(row.contains("<unknown>/50%"), "{table}");
    let v1_table = kubectl.ok(&["get", "hpa.v1.autoscaling", "web"]);
    assert!(v1_table.contains("<unknown>/50%"), "{v1_table}");

    let described = kubectl.ok(&["describe", "hpa", "web"]);
    let line = |kind: &str| {
        described
            .lines()
            .find(|l| l.trim_start().starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} in\n{described}"))
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("AbleToScale"),
        ["AbleToScale", "True", "SucceededGetScale"]
    );
    assert_eq!(
        line("ScalingActive"),
        ["ScalingActive", "False", "FailedGetResourceMetric"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_28_autoscale_is_served_by_autoscaling_v1() {
    let srv = server().await;
    let Some(kubectl) = Kubectl::versioned(&srv, "1.28") else {
        return;
    };
    autoscaling_is_reported(&srv, &kubectl).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_autoscale_reports_conditions_without_metrics() {
    let srv = server().await;
    autoscaling_is_reported(&srv, &Kubectl::new(&srv)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_target_cannot_be_scaled() {
    let srv = server().await;
    let kubectl = Kubectl::new(&srv);
    kubectl.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "orphan"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nope"},
                "maxReplicas": 4}}"#,
    );
    let v2 = eventually(15, || async {
        let h = get(&srv, "v2", "orphan").await;
        condition(&h, "AbleToScale").is_some().then_some(h)
    })
    .await;
    // v1 without a CPU target: v2's default of 80% utilization.
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        80
    );
    let able = condition(&v2, "AbleToScale").unwrap();
    assert_eq!(able["status"], "False");
    assert_eq!(able["reason"], "FailedGetScale");
    assert_eq!(
        able["message"],
        "the HPA controller was unable to get the target's current scale: deployments/scale.apps \"nope\" not found"
    );
    assert!(condition(&v2, "ScalingActive").is_none());
    assert!(v2["status"].get("currentReplicas").is_none());
    let v1 = get(&srv, "v1", "orphan").await;
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 80);
}
