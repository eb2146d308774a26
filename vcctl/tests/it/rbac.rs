//! The components' RBAC in `config/` covers every request they make. The list is not written
//! by hand: a local instance records each distinct request vc-manager, the syncer and vn-agent
//! send to the super cluster (each authenticates as its service account) while tenants are
//! created, run workloads (logs and exec go through vn-agent) and are deleted, with leader
//! election on; every recorded request must be allowed by the rendered manifests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crds::VirtualCluster;
use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{AttachParams, DeleteParams, ListParams, LogParams, PostParams};
use kube::{Api, Client};
use vcctl::local::{COMPONENTS, LocalCluster, LocalOptions, RequestLog};

use crate::support::{allowed, config_dir, kustomize, rules_for};

async fn until<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
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
    .unwrap()
}

/// Workloads in a tenant: pods, logs, exec, a service with its back-populated IP, a configmap.
async fn exercise(tenant: &Client) {
    let deployments: Api<Deployment> = Api::namespaced(tenant.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(tenant.clone(), "default");
    let running = until("2 pods Running", Duration::from_secs(60), || async {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?;
        let names: Vec<String> = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        (names.len() == 2).then_some(names)
    })
    .await;
    let logs = pods
        .log_stream(
            &running[0],
            &LogParams {
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .unwrap()
        .lines()
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert!(logs.concat().contains(&running[0]), "{logs:?}");
    let mut exec = pods
        .exec(
            &running[0],
            ["echo", "hi"],
            &AttachParams::default().stderr(false),
        )
        .await
        .unwrap();
    let mut out = exec.stdout().unwrap();
    let mut text = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut out, &mut text)
        .await
        .unwrap();
    exec.join().await.unwrap();
    assert_eq!(text.trim(), "hi");
    let services: Api<Service> = Api::namespaced(tenant.clone(), "default");
    let svc: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    until(
        "the super clusterIP on the service",
        Duration::from_secs(30),
        || async {
            let s = services.get("web").await.ok()?;
            s.metadata
                .annotations?
                .get(crds::tenancy::keys::ANNOTATION_SUPER_CLUSTER_IP)
                .cloned()
        },
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(tenant.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "settings"}, "data": {"a": "1"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    let old = running[0].clone();
    pods.delete(&old, &DeleteParams::default()).await.unwrap();
    until("the deleted pod gone", Duration::from_secs(30), || async {
        pods.get_opt(&old).await.ok()?.is_none().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_in_config_allows_every_request_the_components_make() {
    let dir = tempfile::tempdir().unwrap();
    let log = RequestLog::new();
    let mut opts = LocalOptions::new(dir.path());
    opts.port = 0;
    opts.tenants = vec!["rbac".into()];
    opts.leader_election = true;
    opts.request_log = Some(log.clone());
    let handle = LocalCluster::start(opts).await.unwrap();
    let admin = handle.super_client().unwrap();
    let kubeconfig = std::fs::read_to_string(handle.tenant_kubeconfig("rbac")).unwrap();
    let tenant = vc_manager::kube_client_from_kubeconfig(&kubeconfig)
        .await
        .unwrap();
    exercise(&tenant).await;

    // Deleting the tenant: vc-manager removes what it provisioned, the syncer its copies.
    let key = handle.state().tenants["rbac"].cluster_key.clone();
    let vcs: Api<VirtualCluster> = Api::namespaced(admin.clone(), "default");
    vcs.delete("rbac", &DeleteParams::default()).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    until(
        "the tenant's super namespaces gone",
        Duration::from_secs(60),
        || async {
            let left = namespaces
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .filter(|n| {
                    n.metadata
                        .name
                        .as_deref()
                        .is_some_and(|x| x.starts_with(&key))
                })
                .count();
            (left == 0).then_some(())
        },
    )
    .await;
    handle.shutdown().await;

    let manifests = kustomize(&config_dir());
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut missing = BTreeSet::new();
    for r in log.requests() {
        let a = &r.attributes;
        if !a.resource_request {
            // Discovery and /version: granted to every authenticated user by upstream's
            // default system:discovery/system:public-info-viewer roles.
            continue;
        }
        let c = COMPONENTS.iter().find(|c| c.name == r.component).unwrap();
        assert_eq!(r.user, c.user());
        *seen.entry(c.name).or_default() += 1;
        let rules = rules_for(
            &manifests,
            vcctl::local::COMPONENT_NAMESPACE,
            c.service_account,
        );
        if !allowed(&rules, a) {
            missing.insert(format!(
                "{}: {} {}{} (namespace {}, name {})",
                c.name,
                a.verb,
                if a.api_group.is_empty() {
                    String::new()
                } else {
                    format!("{}/", a.api_group)
                },
                a.rbac_resource(),
                a.namespace.as_deref().unwrap_or("-"),
                a.name.as_deref().unwrap_or("-"),
            ));
        }
    }
    eprintln!("recorded resource requests per component: {seen:?}");
    for c in COMPONENTS {
        assert!(
            seen.get(c.name).copied().unwrap_or(0) > 0,
            "nothing recorded for {}",
            c.name
        );
    }
    assert!(
        missing.is_empty(),
        "config/ RBAC does not allow these requests the components made:\n  {}",
        missing.into_iter().collect::<Vec<_>>().join("\n  ")
    );
}

#[test]
fn the_evaluator_denies_what_no_rule_grants() {
    use vcctl::local::Attributes;
    let manifests: Vec<serde_json::Value> = serde_yaml::from_str::<Vec<serde_json::Value>>(
        r#"
- kind: ClusterRole
  metadata: {name: reader}
  rules:
    - {apiGroups: [""], resources: ["pods", "pods/status"], verbs: ["get", "list"]}
    - {apiGroups: [""], resources: ["secrets"], resourceNames: ["root-ca"], verbs: ["get"]}
- kind: ClusterRoleBinding
  metadata: {name: reader}
  roleRef: {kind: ClusterRole, name: reader}
  subjects: [{kind: ServiceAccount, name: sa, namespace: ns}]
- kind: Role
  metadata: {name: leases, namespace: ns}
  rules:
    - {apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["*"]}
- kind: RoleBinding
  metadata: {name: leases, namespace: ns}
  roleRef: {kind: Role, name: leases}
  subjects: [{kind: ServiceAccount, name: sa, namespace: ns}]
- kind: ClusterRoleBinding
  metadata: {name: other}
  roleRef: {kind: ClusterRole, name: reader}
  subjects: [{kind: ServiceAccount, name: other, namespace: ns}]
"#,
    )
    .unwrap();
    let rules = rules_for(&manifests, "ns", "sa");
    let a = |m: http::Method, p: &str| Attributes::of(&m, p, None);
    use http::Method;
    assert!(allowed(
        &rules,
        &a(Method::GET, "/api/v1/namespaces/x/pods/p")
    ));
    assert!(allowed(
        &rules,
        &a(Method::GET, "/api/v1/namespaces/x/pods/p/status")
    ));
    assert!(!allowed(
        &rules,
        &a(Method::DELETE, "/api/v1/namespaces/x/pods/p")
    ));
    assert!(!allowed(
        &rules,
        &a(Method::GET, "/api/v1/namespaces/x/pods/p/log")
    ));
    assert!(allowed(
        &rules,
        &a(Method::GET, "/api/v1/namespaces/t/secrets/root-ca")
    ));
    assert!(!allowed(
        &rules,
        &a(Method::GET, "/api/v1/namespaces/t/secrets/admin-kubeconfig")
    ));
    assert!(!allowed(
        &rules,
        &a(Method::GET, "/api/v1/namespaces/t/secrets")
    ));
    let lease = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l";
    assert!(allowed(&rules, &a(Method::PUT, lease)));
    assert!(!allowed(
        &rules,
        &a(
            Method::PUT,
            "/apis/coordination.k8s.io/v1/namespaces/other/leases/l"
        )
    ));
    assert!(!allowed(
        &rules,
        &a(Method::GET, "/apis/apps/v1/namespaces/x/deployments/d")
    ));
    assert!(rules_for(&manifests, "ns", "nobody").is_empty());
}
