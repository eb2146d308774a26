//! One RBAC scenario, driven with the machine's kubectl over an admin kubeconfig, run against
//! the embedded API server and against the real upstream v1.28 kube-apiserver: the two
//! transcripts (answers, outputs and exact error messages) must be equal.

use crate::support::{Kubectl, Step, record, run_scenario, step};

const NS: &str = "rbac-parity";

/// A kubectl whose user is the bearer `token` (the admin kubeconfig's cluster kept).
fn with_token(admin_yaml: &str, token: &str) -> Kubectl {
    let mut kc: serde_yaml::Value = serde_yaml::from_str(admin_yaml).unwrap();
    kc["users"][0]["user"] = serde_yaml::from_str(&format!("token: {token:?}")).unwrap();
    Kubectl::new(&serde_yaml::to_string(&kc).unwrap())
}

/// The scenario over an admin kubeconfig; returns its transcript.
fn scenario(admin_yaml: &str) -> Vec<Step> {
    let k = Kubectl::new(admin_yaml);
    let mut s = Vec::new();
    record(
        &mut s,
        "admin can-i get pods",
        k.run(&["auth", "can-i", "get", "pods"]),
    );
    record(
        &mut s,
        "can-i as a default service account",
        k.run(&[
            "auth",
            "can-i",
            "get",
            "pods",
            "--as=system:serviceaccount:ns:default",
        ]),
    );
    record(
        &mut s,
        "whoami as nobody/devs",
        k.run(&[
            "auth",
            "whoami",
            "--as=nobody",
            "--as-group=devs",
            "-o",
            "jsonpath={.status.userInfo}",
        ]),
    );
    k.ok(&["create", "namespace", NS]);
    k.ok(&["-n", NS, "create", "serviceaccount", "limited"]);
    k.ok(&[
        "-n",
        NS,
        "create",
        "role",
        "cm-reader",
        "--verb=get,list",
        "--resource=configmaps",
    ]);
    k.ok(&[
        "-n",
        NS,
        "create",
        "rolebinding",
        "limited-cm",
        "--role=cm-reader",
        &format!("--serviceaccount={NS}:limited"),
    ]);
    k.ok(&[
        "-n",
        NS,
        "create",
        "role",
        "rbac-writer",
        "--verb=create,update,get",
        "--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io",
    ]);
    k.ok(&[
        "-n",
        NS,
        "create",
        "rolebinding",
        "limited-rbac",
        "--role=rbac-writer",
        &format!("--serviceaccount={NS}:limited"),
    ]);
    k.ok(&["-n", NS, "create", "configmap", "c1", "--from-literal=a=1"]);
    let token = k.ok(&["-n", NS, "create", "token", "limited"]);
    let sa = with_token(admin_yaml, token.trim());
    record(&mut s, "sa lists pods", sa.run(&["-n", NS, "get", "pods"]));
    record(
        &mut s,
        "sa gets a pod",
        sa.run(&["-n", NS, "get", "pod", "web"]),
    );
    record(
        &mut s,
        "sa lists configmaps",
        sa.run(&["-n", NS, "get", "configmaps", "c1", "-o", "name"]),
    );
    record(&mut s, "sa lists nodes", sa.run(&["get", "nodes"]));
    record(
        &mut s,
        "sa reads /metrics",
        sa.run(&["get", "--raw", "/metrics"]),
    );
    record(
        &mut s,
        "sa reads /healthz",
        sa.run(&["get", "--raw", "/healthz"]),
    );
    let (ok, out, err) = sa.run(&["-n", NS, "auth", "can-i", "--list"]);
    let mut lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    lines.sort();
    record(&mut s, "sa can-i --list", (ok, lines.join("\n"), err));
    record(
        &mut s,
        "sa impersonates a user",
        sa.run(&["-n", NS, "get", "pods", "--as=nobody"]),
    );
    record(
        &mut s,
        "sa impersonates a service account",
        sa.run(&[
            "-n",
            NS,
            "get",
            "pods",
            &format!("--as=system:serviceaccount:{NS}:default"),
        ]),
    );
    record(
        &mut s,
        "sa escalates",
        sa.run(&[
            "-n",
            NS,
            "create",
            "role",
            "more",
            "--verb=get",
            "--resource=secrets,pods",
        ]),
    );
    record(
        &mut s,
        "sa grants what it holds",
        sa.run(&[
            "-n",
            NS,
            "create",
            "role",
            "same",
            "--verb=get",
            "--resource=configmaps",
        ]),
    );
    record(
        &mut s,
        "sa binds view",
        sa.run(&[
            "-n",
            NS,
            "create",
            "rolebinding",
            "x",
            "--clusterrole=view",
            "--user=x",
        ]),
    );
    record(
        &mut s,
        "sa binds a missing role",
        sa.run(&[
            "-n",
            NS,
            "create",
            "rolebinding",
            "y",
            "--clusterrole=nonexist",
            "--user=x",
        ]),
    );
    let sar = format!(
        r#"{{"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {{"user": "system:serviceaccount:{NS}:limited", "groups": ["system:serviceaccounts"], "resourceAttributes": {{"namespace": "{NS}", "verb": "list", "resource": "configmaps"}}}}}}"#
    );
    record(
        &mut s,
        "subject access review",
        (
            true,
            k.ok_stdin(&["create", "-o", "jsonpath={.status}", "-f", "-"], &sar),
            String::new(),
        ),
    );
    k.ok_stdin(&["apply", "-f", "-"], "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: rbac-parity-widgets\n  labels: {rbac.authorization.k8s.io/aggregate-to-view: \"true\"}\nrules:\n- {apiGroups: [example.com], resources: [widgets], verbs: [get]}\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let aggregated = loop {
        let view = k.ok(&["get", "clusterrole", "view", "-o", "json"]);
        if view.contains("widgets") || std::time::Instant::now() > deadline {
            break view.contains("widgets");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    s.push(("aggregated into view".into(), aggregated.to_string()));
    k.run(&["delete", "clusterrole", "rbac-parity-widgets"]);
    k.run(&["delete", "namespace", NS, "--wait=false"]);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_scenario_matches_upstream() {
    let test = "rbac_scenario_matches_upstream";
    common::process::install_crypto_provider();
    let srv = apiserver::ServerBuilder::new().start().await.unwrap();
    let embedded = run_scenario(srv.kubeconfig_yaml().to_string(), scenario).await;
    // The scenario's own expectations, so the embedded run means something on its own.
    let get = |label: &str| step(&embedded, label);
    assert_eq!(get("admin can-i get pods"), "ok=true\nyes");
    assert!(get("sa lists pods").contains(&format!(
        r#"pods is forbidden: User "system:serviceaccount:{NS}:limited" cannot list resource "pods" in API group "" in the namespace "{NS}""#
    )));
    assert_eq!(get("aggregated into view"), "true");
    crate::upstream::compare_with_upstream(test, "rbac-parity", &embedded, scenario).await;
}
