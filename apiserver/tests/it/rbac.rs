//! Authorization as upstream's RBAC, driven with the real kubectl (1.33 on PATH, 1.28 beside
//! it when present): `auth can-i`, `auth whoami`, impersonation, a service account limited by
//! a Role, aggregation, escalation prevention, anonymous requests.

use std::path::{Path, PathBuf};

use crate::harness::{Kubectl, eventually, server};

/// A kubeconfig beside `admin` whose user is the bearer `token` (cluster section kept).
fn token_kubeconfig(admin: &Path, token: &str) -> PathBuf {
    let mut kc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(admin).unwrap()).unwrap();
    kc["users"][0]["user"] = serde_yaml::from_str(&format!("token: {token:?}")).unwrap();
    let path = admin.with_file_name(format!("kubeconfig-{}", token.len() + rand_suffix()));
    std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
    path
}

fn rand_suffix() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Runs kubectl with another kubeconfig: (success, stdout, stderr).
fn as_user(k: &Kubectl, kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
    all.extend_from_slice(args);
    k.run(&all)
}

/// Namespace `ns` with service account `limited` that may get/list configmaps and create
/// roles and rolebindings there; returns a kubeconfig holding its token.
fn limited_service_account(k: &Kubectl, ns: &str) -> PathBuf {
    k.ok(&["create", "namespace", ns]);
    k.ok(&["-n", ns, "create", "serviceaccount", "limited"]);
    k.ok(&[
        "-n",
        ns,
        "create",
        "role",
        "cm-reader",
        "--verb=get,list",
        "--resource=configmaps",
    ]);
    k.ok(&[
        "-n",
        ns,
        "create",
        "rolebinding",
        "limited-cm",
        "--role=cm-reader",
        &format!("--serviceaccount={ns}:limited"),
    ]);
    k.ok(&[
        "-n",
        ns,
        "create",
        "role",
        "rbac-writer",
        "--verb=create,update,get",
        "--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io",
    ]);
    k.ok(&[
        "-n",
        ns,
        "create",
        "rolebinding",
        "limited-rbac",
        "--role=rbac-writer",
        &format!("--serviceaccount={ns}:limited"),
    ]);
    let token = k.ok(&["-n", ns, "create", "token", "limited"]);
    token_kubeconfig(k.kubeconfig(), token.trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_i_and_whoami_with_impersonation() {
    let srv = server().await;
    let mut clients = vec![Kubectl::new(&srv)];
    clients.extend(Kubectl::versioned(&srv, "1.28"));
    for k in &clients {
        assert_eq!(k.ok(&["auth", "can-i", "get", "pods"]).trim(), "yes");
        let (ok, out, _) = k.run(&[
            "auth",
            "can-i",
            "get",
            "pods",
            "--as=system:serviceaccount:ns:default",
        ]);
        assert_eq!((ok, out.trim()), (false, "no"));
        let out = k.ok(&[
            "auth",
            "whoami",
            "--as=nobody",
            "--as-group=devs",
            "-o",
            "json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["status"]["userInfo"]["username"], "nobody");
        assert_eq!(
            v["status"]["userInfo"]["groups"],
            serde_json::json!(["devs", "system:authenticated"])
        );
        let out = k.ok(&[
            "auth",
            "can-i",
            "--list",
            "--as=system:serviceaccount:ns:default",
        ]);
        assert!(
            out.contains("selfsubjectaccessreviews.authorization.k8s.io"),
            "{out}"
        );
        assert!(out.contains("[/api/*]"), "{out}");
        assert!(!out.contains("*.*"), "{out}");
        let out = k.ok(&["auth", "can-i", "--list"]);
        assert!(out.contains("*.*"), "admin holds cluster-admin: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_limited_by_a_role() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let sa = limited_service_account(&k, "ns1");
    let (ok, _, err) = as_user(&k, &sa, &["-n", "ns1", "get", "pods"]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        r#"Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:ns1:limited" cannot list resource "pods" in API group "" in the namespace "ns1""#
    );
    let (ok, out, err) = as_user(&k, &sa, &["-n", "ns1", "get", "configmaps", "-o", "name"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("configmap/kube-root-ca.crt") || out.is_empty(),
        "{out}"
    );
    let (ok, _, err) = as_user(
        &k,
        &sa,
        &[
            "-n",
            "ns1",
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-o",
            "name",
        ],
    );
    assert!(ok || err.contains("NotFound"), "{err}");
    let (ok, _, err) = as_user(&k, &sa, &["get", "nodes"]);
    assert!(!ok);
    assert!(err.contains(r#"nodes is forbidden: User "system:serviceaccount:ns1:limited" cannot list resource "nodes" in API group "" at the cluster scope"#), "{err}");
    let (ok, _, err) = as_user(&k, &sa, &["get", "--raw", "/metrics"]);
    assert!(!ok);
    assert!(
        err.contains(
            r#"forbidden: User "system:serviceaccount:ns1:limited" cannot get path "/metrics""#
        ),
        "{err}"
    );
    // Discovery and public paths stay open to every authenticated user.
    assert_eq!(as_user(&k, &sa, &["get", "--raw", "/healthz"]).1, "ok");
    let (ok, out, _) = as_user(
        &k,
        &sa,
        &["-n", "ns1", "auth", "can-i", "list", "configmaps"],
    );
    assert_eq!((ok, out.trim()), (true, "yes"));
    let reason = k.ok_stdin(
        &["create", "-o", "jsonpath={.status.reason}", "-f", "-"],
        r#"{"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {"user": "system:serviceaccount:ns1:limited", "resourceAttributes": {"namespace": "ns1", "verb": "list", "resource": "configmaps"}}}"#,
    );
    assert_eq!(
        reason,
        r#"RBAC: allowed by RoleBinding "limited-cm/ns1" of Role "cm-reader" to ServiceAccount "limited/ns1""#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_needs_the_impersonate_verb() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let sa = limited_service_account(&k, "imp");
    let (ok, _, err) = as_user(&k, &sa, &["-n", "imp", "get", "pods", "--as=nobody"]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        r#"Error from server (Forbidden): users "nobody" is forbidden: User "system:serviceaccount:imp:limited" cannot impersonate resource "users" in API group "" at the cluster scope"#
    );
    let (_, _, err) = as_user(
        &k,
        &sa,
        &[
            "-n",
            "imp",
            "get",
            "pods",
            "--as=system:serviceaccount:imp:default",
        ],
    );
    assert!(err.contains(r#"serviceaccounts "default" is forbidden: User "system:serviceaccount:imp:limited" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "imp""#), "{err}");
    // Granted impersonation of one user: the request runs as that user.
    k.ok(&[
        "create",
        "clusterrole",
        "impersonate-bob",
        "--verb=impersonate",
        "--resource=users",
        "--resource-name=bob",
    ]);
    k.ok(&[
        "create",
        "clusterrolebinding",
        "limited-impersonates-bob",
        "--clusterrole=impersonate-bob",
        "--serviceaccount=imp:limited",
    ]);
    let out = as_user(
        &k,
        &sa,
        &[
            "auth",
            "whoami",
            "--as=bob",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(out.1, "bob", "{out:?}");
    let (_, _, err) = as_user(
        &k,
        &sa,
        &["-n", "imp", "get", "pods", "--as=bob", "--as-group=admins"],
    );
    assert_eq!(
        err.trim(),
        r#"Error from server (Forbidden): groups "admins" is forbidden: User "system:serviceaccount:imp:limited" cannot impersonate resource "groups" in API group "" at the cluster scope"#
    );
    let (_, _, err) = as_user(&k, &sa, &["-n", "imp", "get", "pods", "--as=bob"]);
    assert_eq!(
        err.trim(),
        r#"Error from server (Forbidden): pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "imp""#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_is_refused() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let sa = limited_service_account(&k, "esc");
    let (ok, _, err) = as_user(
        &k,
        &sa,
        &[
            "-n",
            "esc",
            "create",
            "role",
            "more",
            "--verb=get",
            "--resource=secrets,pods",
        ],
    );
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): roles.rbac.authorization.k8s.io \"more\" is forbidden: user \"system:serviceaccount:esc:limited\" (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:esc\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\"]}\n{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}"
    );
    // Rules it holds may be granted; binding a role it does not hold may not.
    let (ok, _, err) = as_user(
        &k,
        &sa,
        &[
            "-n",
            "esc",
            "create",
            "role",
            "same",
            "--verb=get",
            "--resource=configmaps",
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = as_user(
        &k,
        &sa,
        &[
            "-n",
            "esc",
            "create",
            "rolebinding",
            "x",
            "--clusterrole=admin",
            "--user=x",
        ],
    );
    assert!(!ok);
    assert!(err.contains(r#"rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "system:serviceaccount:esc:limited""#), "{err}");
    let (ok, _, err) = as_user(
        &k,
        &sa,
        &[
            "-n",
            "esc",
            "create",
            "rolebinding",
            "y",
            "--clusterrole=nonexist",
            "--user=x",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains(r#"clusterroles.rbac.authorization.k8s.io "nonexist" not found"#),
        "{err}"
    );
    // With `bind` on the role, binding is allowed.
    k.ok(&[
        "-n",
        "esc",
        "create",
        "role",
        "binder",
        "--verb=bind",
        "--resource=clusterroles.rbac.authorization.k8s.io",
        "--resource-name=admin",
    ]);
    k.ok(&[
        "-n",
        "esc",
        "create",
        "rolebinding",
        "binder",
        "--role=binder",
        "--serviceaccount=esc:limited",
    ]);
    let (ok, _, err) = as_user(
        &k,
        &sa,
        &[
            "-n",
            "esc",
            "create",
            "rolebinding",
            "x",
            "--clusterrole=admin",
            "--user=x",
        ],
    );
    assert!(ok, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregation_fills_view() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    k.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-view
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
- {apiGroups: [example.com], resources: [widgets], verbs: [get, list, watch]}
"#,
    );
    for role in ["view", "edit", "admin"] {
        let k = &k;
        eventually(15, || async move {
            let out = k.ok(&["get", "clusterrole", role, "-o", "json"]);
            out.contains("widgets").then_some(())
        })
        .await;
    }
    let out = k.ok(&["get", "clusterrole", "view", "-o", "json"]);
    assert!(
        out.contains("\"pods\""),
        "view keeps upstream's rules: {out}"
    );
    k.ok(&["delete", "clusterrole", "widgets-view"]);
    eventually(15, || async {
        let out = k.ok(&["get", "clusterrole", "view", "-o", "json"]);
        (!out.contains("widgets")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn anonymous_requests_get_public_paths_only() {
    let srv = server().await;
    let mut cfg = srv.kube_config();
    cfg.auth_info = Default::default();
    let anon = crate::harness::Raw(kube::Client::try_from(cfg).unwrap());
    for p in ["/healthz", "/livez", "/readyz", "/version"] {
        let (code, _) = anon
            .send(http::Method::GET, p, "application/json", vec![])
            .await;
        assert_eq!(code, 200, "{p}");
    }
    let (code, s) = anon
        .send(
            http::Method::GET,
            "/api/v1/namespaces",
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(
        (code, s["reason"].as_str()),
        (403, Some("Forbidden")),
        "{s}"
    );
    assert_eq!(
        s["message"],
        r#"namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope"#
    );
    let (code, s) = anon
        .send(http::Method::GET, "/api", "application/json", vec![])
        .await;
    assert_eq!(code, 403, "{s}");
    assert_eq!(
        s["message"],
        r#"forbidden: User "system:anonymous" cannot get path "/api""#
    );
    assert_eq!(s["details"], serde_json::json!({}));
}
