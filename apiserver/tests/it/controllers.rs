//! The built-in controllers: deployments, endpoints, jobs, daemonsets, cronjobs.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::harness::{eventually, server};

use crate::lifecycle::pod;

#[tokio::test]
async fn deployments_create_replicasets_and_pods_and_report_status() {
    let srv = server().await;
    let deps: Api<Deployment> = Api::namespaced(srv.client(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}})).unwrap();
    deps.create(&PostParams::default(), &d).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(srv.client(), "default");
    let listed = eventually(10, || async {
        let l = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap();
        (l.items.len() == 3).then_some(l)
    })
    .await;
    let rs_name = listed.items[0].metadata.owner_references.as_ref().unwrap()[0]
        .name
        .clone();
    assert!(rs_name.starts_with("web-"));
    let hash = listed.items[0].metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(rs_name, format!("web-{hash}"));
    // Play the kubelet: mark pods Running and Ready.
    for p in &listed.items {
        let name = p.metadata.name.clone().unwrap();
        pods.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running", "podIP": "10.244.0.5",
            "conditions": [{"type": "Ready", "status": "True"}]}})),
        )
        .await
        .unwrap();
    }
    let d = eventually(10, || async {
        let d = deps.get("web").await.unwrap();
        let s = d.status.clone().unwrap_or_default();
        (s.available_replicas == Some(3)
            && s.updated_replicas == Some(3)
            && s.observed_generation == Some(1))
        .then_some(d)
    })
    .await;
    let conds = d.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Available" && c.status == "True")
    );
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "1"
    );
    // Scale through the scale subresource, as `kubectl scale` does.
    deps.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    eventually(10, || async {
        let n = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .len();
        (n == 5).then_some(())
    })
    .await;
    let scale = deps.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(5));
    // A template change rolls out a new ReplicaSet.
    deps.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}))).await.unwrap();
    let rses: Api<ReplicaSet> = Api::namespaced(srv.client(), "default");
    eventually(10, || async {
        let l = rses.list(&ListParams::default()).await.unwrap();
        (l.items.len() == 2).then_some(())
    })
    .await;
    // Deleting the deployment removes its ReplicaSets and pods (background GC).
    deps.delete("web", &DeleteParams::default()).await.unwrap();
    eventually(15, || async {
        let n = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .count();
        (n == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn endpoints_follow_ready_pods() {
    let srv = server().await;
    let svcs: Api<Service> = Api::namespaced(srv.client(), "default");
    svcs.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"selector": {"app": "ep"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})).unwrap()).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(srv.client(), "default");
    pods.create(&PostParams::default(), &pod("e1", json!({"app": "ep"})))
        .await
        .unwrap();
    pods.patch_status(
        "e1",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running", "podIP": "10.244.1.7",
        "conditions": [{"type": "Ready", "status": "True"}]}})),
    )
    .await
    .unwrap();
    let eps: Api<Endpoints> = Api::namespaced(srv.client(), "default");
    let ep = eventually(10, || async {
        eps.get_opt("web")
            .await
            .unwrap()
            .filter(|e| e.subsets.as_ref().is_some_and(|s| !s.is_empty()))
    })
    .await;
    let subset = &ep.subsets.unwrap()[0];
    assert_eq!(subset.addresses.as_ref().unwrap()[0].ip, "10.244.1.7");
    assert_eq!(
        subset.ports.as_ref().unwrap()[0].port,
        8080,
        "named target port resolved"
    );
    pods.patch_status(
        "e1",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})),
    )
    .await
    .unwrap();
    eventually(10, || async {
        let e = eps.get("web").await.unwrap();
        e.subsets
            .and_then(|s| s.first().and_then(|x| x.not_ready_addresses.clone()))
            .map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn jobs_run_pods_to_completion_and_fail_past_the_backoff_limit() {
    use k8s_openapi::api::batch::v1::Job;
    let srv = server().await;
    let jobs: Api<Job> = Api::namespaced(srv.client(), "default");
    let pods: Api<Pod> = Api::namespaced(srv.client(), "default");
    let job = |name: &str, completions: i32, backoff: i32| -> Job {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
            "completions": completions, "backoffLimit": backoff,
            "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}}))
        .unwrap()
    };
    let finish = |name: String, phase: &'static str| {
        let pods = pods.clone();
        async move {
            let body = json!({"status": {"phase": phase}});
            pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
                .await
                .unwrap();
        }
    };
    let running = |job: &'static str| {
        let pods = pods.clone();
        async move {
            eventually(10, || async {
                let l = pods
                    .list(&ListParams::default().labels(&format!("job-name={job}")))
                    .await
                    .unwrap();
                l.items
                    .into_iter()
                    .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))
                    .and_then(|p| p.metadata.name)
            })
            .await
        }
    };

    // Two completions, one at a time.
    jobs.create(&PostParams::default(), &job("two", 2, 6))
        .await
        .unwrap();
    let first = running("two").await;
    let j = eventually(10, || async {
        let j = jobs.get_status("two").await.unwrap();
        (j.status.as_ref()?.active == Some(1)).then_some(j)
    })
    .await;
    assert!(j.status.unwrap().start_time.is_some());
    finish(first.clone(), "Succeeded").await;
    let second = eventually(10, || async {
        let n = running("two").await;
        (n != first).then_some(n)
    })
    .await;
    finish(second, "Succeeded").await;
    let j = eventually(10, || async {
        let j = jobs.get_status("two").await.unwrap();
        let s = j.status.clone()?;
        (s.succeeded == Some(2) && s.completion_time.is_some()).then_some(s)
    })
    .await;
    let types: Vec<String> = j
        .conditions
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.type_)
        .collect();
    assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
    assert_eq!(j.active, None);

    // A failed pod with backoffLimit 0 fails the job.
    jobs.create(&PostParams::default(), &job("once", 1, 0))
        .await
        .unwrap();
    let p = running("once").await;
    finish(p, "Failed").await;
    let s = eventually(10, || async {
        let s = jobs.get_status("once").await.unwrap().status?;
        s.conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Failed" && c.status == "True")
            .then_some(s)
    })
    .await;
    assert_eq!(s.failed, Some(1));
    let reason = s.conditions.unwrap()[0].reason.clone();
    assert_eq!(reason.as_deref(), Some("BackoffLimitExceeded"));
}

#[tokio::test]
async fn daemonsets_run_one_pod_per_eligible_node() {
    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::api::core::v1::Node;
    let srv = server().await;
    let nodes: Api<Node> = Api::all(srv.client());
    for (name, taints) in [
        ("n1", json!([])),
        ("n2", json!([])),
        (
            "gpu",
            json!([{"key": "gpu", "value": "true", "effect": "NoSchedule"}]),
        ),
    ] {
        let n: Node =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"taints": taints}}))
                .unwrap();
        nodes.create(&PostParams::default(), &n).await.unwrap();
    }
    let dss: Api<DaemonSet> = Api::namespaced(srv.client(), "default");
    let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "c", "image": "agent:1"}]}}}}))
    .unwrap();
    dss.create(&PostParams::default(), &ds).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(srv.client(), "default");
    let listed = eventually(10, || async {
        let l = pods
            .list(&ListParams::default().labels("app=agent"))
            .await
            .unwrap();
        (l.items.len() == 2).then_some(l)
    })
    .await;
    let mut pinned: Vec<String> = listed
        .items
        .iter()
        .map(|p| {
            let a = p.spec.as_ref().unwrap().affinity.as_ref().unwrap();
            let terms = &a
                .node_affinity
                .as_ref()
                .unwrap()
                .required_during_scheduling_ignored_during_execution
                .as_ref()
                .unwrap()
                .node_selector_terms;
            terms[0].match_fields.as_ref().unwrap()[0]
                .values
                .as_ref()
                .unwrap()[0]
                .clone()
        })
        .collect();
    pinned.sort();
    assert_eq!(pinned, ["n1", "n2"], "the tainted node gets no daemon pod");
    let s = eventually(10, || async {
        let s = dss.get_status("agent").await.unwrap().status?;
        (s.current_number_scheduled == 2).then_some(s)
    })
    .await;
    assert_eq!(s.desired_number_scheduled, 2);
    // A new node gets its pod.
    let n: Node = serde_json::from_value(json!({"metadata": {"name": "n3"}})).unwrap();
    nodes.create(&PostParams::default(), &n).await.unwrap();
    eventually(10, || async {
        let s = dss.get_status("agent").await.unwrap().status?;
        (s.desired_number_scheduled == 3 && s.current_number_scheduled == 3).then_some(())
    })
    .await;
}

#[tokio::test]
async fn cronjobs_create_jobs_on_schedule_and_refuse_bad_schedules() {
    use k8s_openapi::api::batch::v1::{CronJob, Job};
    let srv = server().await;
    let cjs: Api<CronJob> = Api::namespaced(srv.client(), "default");
    let cj = |schedule: &str| -> CronJob {
        serde_json::from_value(json!({"metadata": {"name": "tick"}, "spec": {
            "schedule": schedule,
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["date"]}]}}}}}}))
        .unwrap()
    };
    let err = cjs
        .create(&PostParams::default(), &cj("61 * * * *"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("spec.schedule")),
        "{err:?}"
    );
    cjs.create(&PostParams::default(), &cj("* * * * *"))
        .await
        .unwrap();
    // As if the last run was ten minutes ago: the latest missed minute is due now.
    let long_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(10)).to_string();
    cjs.patch_status(
        "tick",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"lastScheduleTime": long_ago}})),
    )
    .await
    .unwrap();
    let jobs: Api<Job> = Api::namespaced(srv.client(), "default");
    let job = eventually(10, || async {
        jobs.list(&ListParams::default()).await.unwrap().items.pop()
    })
    .await;
    let name = job.metadata.name.clone().unwrap();
    assert!(name.starts_with("tick-"), "{name}");
    assert_eq!(job.metadata.owner_references.unwrap()[0].kind, "CronJob");
    assert!(
        job.metadata
            .annotations
            .unwrap()
            .contains_key("batch.kubernetes.io/cronjob-scheduled-timestamp")
    );
    let s = eventually(10, || async {
        let s = cjs.get_status("tick").await.unwrap().status?;
        (s.active.as_ref().is_some_and(|a| a.len() == 1)).then_some(s)
    })
    .await;
    assert_ne!(
        s.last_schedule_time.map(|t| t.0.to_string()),
        Some(long_ago)
    );
}
