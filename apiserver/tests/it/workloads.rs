//! Workload details as kubectl users see them on a real cluster: `rollout undo` returns to the
//! earlier ReplicaSet (no duplicate), Deployment annotations reach their ReplicaSets.

use crate::harness::{Kubectl, server};

/// Polls kubectl until `check` accepts its output (ten seconds).
fn wait_until(k: &Kubectl, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        let (_, out, _) = k.run(args);
        if check(&out) {
            return out;
        }
        last = out;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("kubectl {args:?} never satisfied the check; last output:\n{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_undo_reuses_the_earlier_replicaset_and_annotations_are_copied() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    tokio::task::spawn_blocking(move || {
        k.ok(&["create", "deployment", "web", "--image=nginx:1"]);
        k.ok(&["annotate", "deployment", "web", "team=blue"]);
        let rs = ["get", "rs", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.metadata.annotations.deployment\\.kubernetes\\.io/revision}:{.spec.template.spec.containers[0].image}:{.metadata.annotations.team} {end}"];
        wait_until(&k, &rs, |o| o.trim() == "1:nginx:1:blue");
        k.ok(&["set", "image", "deployment/web", "nginx=nginx:2"]);
        wait_until(&k, &rs, |o| o.split_whitespace().count() == 2 && o.contains("2:nginx:2:blue"));
        k.ok(&["rollout", "undo", "deployment/web"]);
        let out = wait_until(&k, &rs, |o| o.contains("3:nginx:1:blue"));
        assert_eq!(out.split_whitespace().count(), 2, "no duplicate ReplicaSet: {out}");
        let history = k.ok(&["rollout", "history", "deployment/web"]);
        let revisions: Vec<&str> = history
            .lines()
            .skip(2)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(revisions, ["2", "3"], "{history}");
        let old = k.ok(&[
            "get", "rs", "-l", "app=web", "-o",
            "jsonpath={.items[?(@.spec.template.spec.containers[0].image==\"nginx:1\")].metadata.annotations.deployment\\.kubernetes\\.io/revision-history}",
        ]);
        assert_eq!(old, "1");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_taints_the_node_and_uncordon_lifts_it() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    tokio::task::spawn_blocking(move || {
        k.ok_stdin(
            &["create", "-f", "-"],
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nspec:\n  taints:\n  - {key: dedicated, value: gpu, effect: NoSchedule}\n",
        );
        k.ok(&["cordon", "n1"]);
        let taints = ["get", "node", "n1", "-o", "jsonpath={range .spec.taints[*]}{.key}:{.effect} {end}"];
        wait_until(&k, &taints, |o| {
            o.trim() == "dedicated:NoSchedule node.kubernetes.io/unschedulable:NoSchedule"
        });
        k.ok(&["uncordon", "n1"]);
        wait_until(&k, &taints, |o| o.trim() == "dedicated:NoSchedule");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_only_defaults_stay_off_templates_and_reach_pods() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    tokio::task::spawn_blocking(move || {
        k.ok_stdin(
            &["create", "-f", "-"],
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: lim\nspec:\n  selector:\n    matchLabels: {app: lim}\n  template:\n    metadata:\n      labels: {app: lim}\n    spec:\n      containers:\n      - name: c\n        image: nginx:1\n        resources:\n          limits: {memory: 64Mi}\n",
        );
        let template = k.ok(&[
            "get", "deploy", "lim", "-o",
            "jsonpath={.spec.template.spec.enableServiceLinks}|{.spec.template.spec.containers[0].resources.requests}|{.spec.template.spec.dnsPolicy}",
        ]);
        assert_eq!(template, "||ClusterFirst", "only pod-spec defaults on templates");
        let pod = wait_until(
            &k,
            &["get", "pods", "-l", "app=lim", "-o", "jsonpath={.items[0].spec.enableServiceLinks}|{.items[0].spec.containers[0].resources.requests.memory}"],
            |o| !o.is_empty() && o != "|",
        );
        assert_eq!(pod, "true|64Mi");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_held_by_a_finalizer_says_why() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    tokio::task::spawn_blocking(move || {
        k.ok(&["create", "ns", "fin1"]);
        k.ok(&["-n", "fin1", "create", "cm", "held", "--from-literal=a=b"]);
        k.ok(&["-n", "fin1", "patch", "cm", "held", "-p", r#"{"metadata":{"finalizers":["example.com/block"]}}"#]);
        k.ok(&["delete", "ns", "fin1", "--wait=false"]);
        let conditions = [
            "get", "ns", "fin1", "-o",
            "jsonpath={range .status.conditions[*]}{.type}|{.status}|{.reason}|{.message}{\"\\n\"}{end}",
        ];
        let out = wait_until(&k, &conditions, |o| o.contains("NamespaceFinalizersRemaining"));
        let want = "NamespaceDeletionDiscoveryFailure|False|ResourcesDiscovered|All resources successfully discovered
NamespaceDeletionGroupVersionParsingFailure|False|ParsedGroupVersions|All legacy kube types successfully parsed
NamespaceDeletionContentFailure|False|ContentDeleted|All content successfully deleted, may be waiting on finalization
NamespaceContentRemaining|True|SomeResourcesRemain|Some resources are remaining: configmaps. has 1 resource instances
NamespaceFinalizersRemaining|True|SomeFinalizersRemain|Some content in the namespace has finalizers remaining: example.com/block in 1 resource instances";
        assert_eq!(out.trim(), want);
        k.ok(&["-n", "fin1", "patch", "cm", "held", "-p", r#"{"metadata":{"finalizers":null}}"#]);
        wait_until(&k, &["get", "ns"], |o| !o.contains("fin1"));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_record_events_as_upstream() {
    let srv = crate::harness::server().await;
    let k = crate::harness::Kubectl::new(&srv);
    k.ok(&["create", "namespace", "evt"]);
    k.ok(&["-n", "evt", "create", "quota", "q", "--hard=pods=2"]);
    crate::harness::eventually(20, || async {
        let used = k.ok(&[
            "-n",
            "evt",
            "get",
            "quota",
            "q",
            "-o",
            "jsonpath={.status.used.pods}",
        ]);
        (used == "0").then_some(())
    })
    .await;
    k.ok(&[
        "-n",
        "evt",
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=3",
    ]);
    let rs = crate::harness::eventually(20, || async {
        let rs = k.ok(&[
            "-n",
            "evt",
            "get",
            "rs",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ]);
        (!rs.is_empty()).then_some(rs)
    })
    .await;
    crate::harness::eventually(20, || async {
        let out = k.ok(&["-n", "evt", "events", "--for", "deployment/web"]);
        out.contains(&format!(
            "ScalingReplicaSet   Deployment/web   Scaled up replica set {rs} to 3"
        ))
        .then_some(())
    })
    .await;
    crate::harness::eventually(20, || async {
        let out = k.ok(&["-n", "evt", "events", "--for", &format!("replicaset/{rs}")]);
        (out.contains("SuccessfulCreate")
            && out.contains("Created pod: ")
            && out.contains("FailedCreate")
            && out.contains("Error creating: pods \"")
            && out.contains(
                "is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2",
            ))
        .then_some(())
    })
    .await;
    k.ok(&["-n", "evt", "scale", "deployment", "web", "--replicas=1"]);
    crate::harness::eventually(20, || async {
        let out = k.ok(&["-n", "evt", "describe", "deployment", "web"]);
        out.contains(&format!("Scaled down replica set {rs} to 1 from 3"))
            .then_some(())
    })
    .await;
    crate::harness::eventually(20, || async {
        let out = k.ok(&["-n", "evt", "events", "--for", &format!("replicaset/{rs}")]);
        out.contains("SuccessfulDelete").then_some(())
    })
    .await;
    // Repeated refusals are counted on one event or combined, never one event each.
    let refusals = k.ok(&[
        "-n",
        "evt",
        "get",
        "events",
        "--field-selector",
        "reason=FailedCreate",
        "-o",
        "name",
    ]);
    assert!(refusals.lines().count() <= 11, "{refusals}");
}
