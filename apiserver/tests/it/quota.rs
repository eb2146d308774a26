//! ResourceQuotas as kubectl users meet them: status measured by the quota controller, creates
//! refused with upstream's messages, scopes, controllers held to the quota, and usage released
//! on deletion. Also the ReplicationController loop that quota counts.

use crate::harness::{Kubectl, eventually, server};

fn pod_yaml(name: &str, resources: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: nginx\n{resources}"
    )
}

fn requests(cpu: &str, memory: &str) -> String {
    format!("    resources:\n      requests:\n        cpu: {cpu}\n        memory: {memory}\n")
}

/// Waits until `jsonpath` of quota `name` in `ns` prints `want`.
async fn quota_shows(k: &Kubectl, ns: &str, name: &str, jsonpath: &str, want: &str) {
    let path = format!("jsonpath={jsonpath}");
    eventually(20, || async {
        let (ok, out, _) = k.run(&["get", "quota", name, "-n", ns, "-o", &path]);
        (ok && out.trim() == want).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_status_admission_and_release() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    k.ok(&["create", "namespace", "q1"]);
    k.ok(&[
        "create",
        "quota",
        "compute",
        "-n",
        "q1",
        "--hard=pods=2,cpu=1,memory=1Gi,services.nodeports=1,count/configmaps=5",
    ]);
    quota_shows(&k, "q1", "compute", "{.status.used.pods}", "0").await;
    quota_shows(&k, "q1", "compute", "{.status.hard.memory}", "1Gi").await;

    k.ok_stdin(
        &["create", "-n", "q1", "-f", "-"],
        &pod_yaml("p1", &requests("600m", "100Mi")),
    );
    let (ok, _, err) = k.run_stdin(
        &["create", "-n", "q1", "-f", "-"],
        Some(&pod_yaml("p2", &requests("600m", "100Mi"))),
    );
    assert!(!ok);
    assert!(
        err.contains("pods \"p2\" is forbidden: exceeded quota: compute, requested: cpu=600m, used: cpu=600m, limited: cpu=1"),
        "{err}"
    );
    let (ok, _, err) = k.run_stdin(
        &["create", "-n", "q1", "-f", "-"],
        Some(&pod_yaml("p3", "")),
    );
    assert!(!ok);
    assert!(
        err.contains("pods \"p3\" is forbidden: failed quota: compute: must specify cpu,memory"),
        "{err}"
    );
    quota_shows(&k, "q1", "compute", "{.status.used.cpu}", "600m").await;
    quota_shows(&k, "q1", "compute", "{.status.used.memory}", "100Mi").await;

    k.ok(&[
        "create", "service", "nodeport", "np1", "-n", "q1", "--tcp=80",
    ]);
    let (ok, _, err) = k.run(&[
        "create", "service", "nodeport", "np2", "-n", "q1", "--tcp=80",
    ]);
    assert!(!ok);
    assert!(err.contains("exceeded quota: compute, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1"), "{err}");

    let described = k.ok(&["describe", "quota", "compute", "-n", "q1"]);
    assert!(
        described.contains("cpu") && described.contains("600m"),
        "{described}"
    );

    k.ok(&[
        "delete",
        "pod",
        "p1",
        "-n",
        "q1",
        "--grace-period=0",
        "--force",
    ]);
    quota_shows(&k, "q1", "compute", "{.status.used.cpu}", "0").await;
    quota_shows(&k, "q1", "compute", "{.status.used.pods}", "0").await;
    k.ok(&["delete", "service", "np1", "-n", "q1"]);
    quota_shows(
        &k,
        "q1",
        "compute",
        "{.status.used.services\\.nodeports}",
        "0",
    )
    .await;

    // A status written by hand is measured again at once.
    k.ok(&[
        "patch",
        "quota",
        "compute",
        "-n",
        "q1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"hard":{"pods":"9"},"used":{"pods":"7"}}}"#,
    ]);
    quota_shows(&k, "q1", "compute", "{.status.hard.pods}", "2").await;
    quota_shows(&k, "q1", "compute", "{.status.used.pods}", "0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_select_pods_and_controllers_stay_within_quota() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    k.ok(&["create", "namespace", "q2"]);
    k.ok(&[
        "create",
        "quota",
        "be",
        "-n",
        "q2",
        "--hard=pods=1",
        "--scopes=BestEffort",
    ]);
    quota_shows(&k, "q2", "be", "{.status.used.pods}", "0").await;
    k.ok_stdin(&["create", "-n", "q2", "-f", "-"], &pod_yaml("be1", ""));
    let (ok, _, err) = k.run_stdin(
        &["create", "-n", "q2", "-f", "-"],
        Some(&pod_yaml("be2", "")),
    );
    assert!(!ok);
    assert!(
        err.contains("exceeded quota: be, requested: pods=1, used: pods=1, limited: pods=1"),
        "{err}"
    );
    // Not best-effort: outside the scope.
    k.ok_stdin(
        &["create", "-n", "q2", "-f", "-"],
        &pod_yaml("burst", &requests("100m", "10Mi")),
    );
    quota_shows(&k, "q2", "be", "{.status.used.pods}", "1").await;

    // A deployment asking for more pods than the quota allows gets only what fits.
    k.ok(&["create", "namespace", "q3"]);
    k.ok(&["create", "quota", "two", "-n", "q3", "--hard=pods=2"]);
    quota_shows(&k, "q3", "two", "{.status.used.pods}", "0").await;
    k.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "q3",
        "--image=nginx",
        "--replicas=3",
    ]);
    quota_shows(&k, "q3", "two", "{.status.used.pods}", "2").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let pods = k.ok(&["get", "pods", "-n", "q3", "-o", "name"]);
    assert_eq!(pods.lines().count(), 2, "{pods}");

    let (ok, _, err) = k.run(&["create", "quota", "bad", "-n", "q3", "--hard=pods=1500m"]);
    assert!(!ok);
    assert!(
        err.contains("spec.hard[pods]: Invalid value: \"1500m\": must be an integer"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_controllers_keep_their_pods() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let rc = "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: rc1\nspec:\n  replicas: 2\n  template:\n    metadata:\n      labels:\n        app: rc1\n    spec:\n      containers:\n      - name: c\n        image: nginx\n";
    k.ok_stdin(&["create", "-f", "-"], rc);
    let count = || {
        k.ok(&["get", "pods", "-l", "app=rc1", "-o", "name"])
            .lines()
            .count()
    };
    eventually(20, || async { (count() == 2).then_some(()) }).await;
    let owner = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=rc1",
        "-o",
        "jsonpath={.items[0].metadata.ownerReferences[0].kind}",
    ]);
    assert_eq!(owner, "ReplicationController");
    k.ok(&["scale", "rc", "rc1", "--replicas=1"]);
    eventually(20, || async {
        let live = k.ok(&[
            "get",
            "pods",
            "-l",
            "app=rc1",
            "-o",
            "jsonpath={range .items[?(@.metadata.deletionTimestamp)]}x{end}",
        ]);
        (count() - live.len() == 1).then_some(())
    })
    .await;
    eventually(20, || async {
        let r = k.ok(&["get", "rc", "rc1", "-o", "jsonpath={.status.replicas}"]);
        (r == "1").then_some(())
    })
    .await;
    k.ok(&["delete", "rc", "rc1", "--cascade=background"]);
    eventually(30, || async { (count() == 0).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_ranges_default_and_bound_pods_and_claims() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    k.ok(&["create", "namespace", "lr"]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: LimitRange\nmetadata: {name: lr, namespace: lr}\nspec:\n  limits:\n  - type: Container\n    default: {cpu: 500m, memory: 256Mi}\n    max: {cpu: \"1\", memory: 1Gi}\n    min: {cpu: 100m}\n    maxLimitRequestRatio: {cpu: \"4\"}\n  - type: Pod\n    max: {memory: 2Gi}\n  - type: PersistentVolumeClaim\n    min: {storage: 1Gi}\n    max: {storage: 5Gi}\n",
    );
    assert_eq!(
        k.ok(&[
            "-n",
            "lr",
            "get",
            "limitrange",
            "lr",
            "-o",
            "jsonpath={.spec.limits[0].defaultRequest}"
        ]),
        r#"{"cpu":"500m","memory":"256Mi"}"#
    );
    k.ok(&["-n", "lr", "run", "p1", "--image=nginx"]);
    assert_eq!(
        k.ok(&[
            "-n",
            "lr",
            "get",
            "pod",
            "p1",
            "-o",
            "jsonpath={.metadata.annotations.kubernetes\\.io/limit-ranger}"
        ]),
        "LimitRanger plugin set: cpu, memory request for container p1; cpu, memory limit for container p1"
    );
    let (ok, _, err) = k.run(&[
        "-n", "lr", "run", "p2", "--image=nginx",
        r#"--overrides={"spec":{"containers":[{"name":"p2","image":"nginx","resources":{"requests":{"cpu":"50m"},"limits":{"cpu":"2","memory":"3Gi"}}}]}}"#,
    ]);
    assert!(!ok);
    assert!(err.contains(r#"pods "p2" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, maximum cpu usage per Container is 1, but limit is 2, maximum memory usage per Container is 1Gi, but limit is 3Gi, cpu max limit to request ratio per Container is 4, but provided ratio is 40.000000, maximum memory usage per Pod is 2Gi, but limit is 3Gi]"#), "{err}");
    let (ok, _, err) = k.run_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c, namespace: lr}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 10Gi}}}\n"),
    );
    assert!(!ok);
    assert!(
        err.contains("maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 10Gi"),
        "{err}"
    );
}
