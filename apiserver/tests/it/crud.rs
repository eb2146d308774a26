//! CRUD, conflicts, preconditions, pagination, selectors, status rules, clusterIPs.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use crate::harness::server;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
        "data": {"k": "v"}
    }))
    .unwrap()
}

fn api_err(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_crud_round_trip() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("a", &[("app", "x")]))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    assert!(created.metadata.creation_timestamp.is_some());
    let rv1: u64 = created
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    let got = cms.get("a").await.unwrap();
    assert_eq!(got.metadata.uid.as_deref(), Some(uid.as_str()));
    let mut changed = got.clone();
    changed.data = Some(BTreeMap::from([("k".to_string(), "w".to_string())]));
    let replaced = cms
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    let patched = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"extra": "1"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched
            .metadata
            .labels
            .unwrap()
            .get("extra")
            .map(String::as_str),
        Some("1")
    );
    let (code, body) = crate::harness::raw(&srv)
        .send(
            http::Method::PATCH,
            "/api/v1/namespaces/default/configmaps/a",
            "application/json-patch+json",
            br#"[{"op":"replace","path":"/data/k","value":"z"}]"#.to_vec(),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let patched: ConfigMap = serde_json::from_value(body).unwrap();
    assert_eq!(patched.data.as_ref().unwrap()["k"], "z");
    // A write that changes nothing keeps the resourceVersion.
    let again = cms
        .replace("a", &PostParams::default(), &patched)
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        patched.metadata.resource_version
    );
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let e = api_err(cms.get("a").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "configmaps \"a\" not found");
}

#[tokio::test]
async fn conflicts_and_preconditions() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("c", &[]))
        .await
        .unwrap();
    let e = api_err(
        cms.create(&PostParams::default(), &cm("c", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    let mut first = created.clone();
    first.data = Some(BTreeMap::from([("k".into(), "1".into())]));
    cms.replace("c", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created.clone();
    stale.data = Some(BTreeMap::from([("k".into(), "2".into())]));
    let e = api_err(
        cms.replace("c", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message.contains("the object has been modified"),
        "{}",
        e.message
    );
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let e = api_err(cms.delete("c", &dp).await.unwrap_err());
    assert_eq!(e.code, 409);
    assert!(
        e.message
            .contains("Precondition failed: UID in precondition: not-the-uid"),
        "{}",
        e.message
    );
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: None,
            resource_version: Some("1".into()),
        }),
        ..Default::default()
    };
    assert_eq!(api_err(cms.delete("c", &dp).await.unwrap_err()).code, 409);
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: created.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    cms.delete("c", &dp).await.unwrap();
}

#[tokio::test]
async fn pagination_returns_every_item_once() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    for i in 0..25 {
        cms.create(
            &PostParams::default(),
            &cm(&format!("p{i:02}"), &[("page", "yes")]),
        )
        .await
        .unwrap();
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    let mut list_rv = None;
    loop {
        let mut lp = ListParams::default().labels("page=yes").limit(10);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = cms.list(&lp).await.unwrap();
        pages += 1;
        if list_rv.is_none() {
            list_rv = page.metadata.resource_version.clone();
        }
        assert_eq!(
            page.metadata.resource_version, list_rv,
            "every page reports the snapshot version"
        );
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => token = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 25);
    assert_eq!(names, sorted, "lists are ordered by name");
    let first = cms.list(&ListParams::default().limit(10)).await.unwrap();
    assert!(first.metadata.remaining_item_count.unwrap() >= 15);
}

#[tokio::test]
async fn label_and_field_selectors() {
    let srv = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(srv.client(), "default");
    for (n, labels) in [
        ("s1", vec![("app", "web"), ("tier", "front")]),
        ("s2", vec![("app", "web"), ("tier", "back")]),
        ("s3", vec![("app", "db")]),
        ("s4", vec![]),
    ] {
        cms.create(&PostParams::default(), &cm(n, &labels))
            .await
            .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        let mut v: Vec<String> = l
            .items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .filter(|n| n.starts_with('s'))
            .collect();
        v.sort();
        v
    };
    for (sel, want) in [
        ("app=web", vec!["s1", "s2"]),
        ("app==web,tier!=back", vec!["s1"]),
        ("app in (web,db)", vec!["s1", "s2", "s3"]),
        ("app notin (web)", vec!["s3", "s4"]),
        ("tier", vec!["s1", "s2"]),
        ("!tier", vec!["s3", "s4"]),
    ] {
        let got = names(cms.list(&ListParams::default().labels(sel)).await.unwrap());
        assert_eq!(got, want, "selector {sel}");
    }
    let got = names(
        cms.list(&ListParams::default().fields("metadata.name=s3"))
            .await
            .unwrap(),
    );
    assert_eq!(got, vec!["s3"]);
    let got = names(
        cms.list(&ListParams::default().fields("metadata.name!=s3"))
            .await
            .unwrap(),
    );
    assert_eq!(got, vec!["s1", "s2", "s4"]);
    let e = api_err(
        cms.list(&ListParams::default().fields("data.k=v"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert!(
        e.message.contains("field label not supported: data.k"),
        "{}",
        e.message
    );
    let secrets: Api<Secret> = Api::namespaced(srv.client(), "default");
    secrets
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "tls1"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}})).unwrap())
        .await
        .unwrap();
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "plain"}, "stringData": {"a": "b"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let tls = secrets
        .list(&ListParams::default().fields("type=kubernetes.io/tls"))
        .await
        .unwrap();
    assert_eq!(tls.items.len(), 1);
    let plain = secrets.get("plain").await.unwrap();
    assert_eq!(plain.type_.as_deref(), Some("Opaque"));
    assert_eq!(
        plain.data.unwrap()["a"].0,
        b"b".to_vec(),
        "stringData is folded into data"
    );
    let pods: Api<Pod> = Api::namespaced(srv.client(), "default");
    for (n, node) in [("pa", Some("n1")), ("pb", None)] {
        let mut p =
            json!({"metadata": {"name": n}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        if let Some(node) = node {
            p["spec"]["nodeName"] = json!(node);
        }
        pods.create(&PostParams::default(), &serde_json::from_value(p).unwrap())
            .await
            .unwrap();
    }
    let on_n1 = pods
        .list(&ListParams::default().fields("spec.nodeName=n1"))
        .await
        .unwrap();
    assert_eq!(on_n1.items.len(), 1);
    let unscheduled = pods
        .list(&ListParams::default().fields("spec.nodeName="))
        .await
        .unwrap();
    assert_eq!(unscheduled.items[0].metadata.name.as_deref(), Some("pb"));
    let pending = pods
        .list(&ListParams::default().fields("status.phase=Pending"))
        .await
        .unwrap();
    assert_eq!(pending.items.len(), 2);
}

#[tokio::test]
async fn generate_name_and_defaults() {
    let srv = server().await;
    let pods: Api<Pod> = Api::namespaced(srv.client(), "default");
    let p: Pod = serde_json::from_value(json!({"metadata": {"generateName": "web-"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})).unwrap();
    let created = pods.create(&PostParams::default(), &p).await.unwrap();
    let name = created.metadata.name.unwrap();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    let spec = created.spec.unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert!(
        spec.volumes
            .unwrap()
            .iter()
            .any(|v| v.name.starts_with("kube-api-access-"))
    );
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
}

#[tokio::test]
async fn status_subresource_rules_and_generation() {
    let srv = server().await;
    let deps: Api<Deployment> = Api::namespaced(srv.client(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "d"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "status": {"replicas": 99}
    }))
    .unwrap();
    let created = deps.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_ne!(
        created.status.as_ref().and_then(|s| s.replicas),
        Some(99),
        "create drops status"
    );
    let after_label = deps
        .patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        after_label.metadata.generation,
        Some(1),
        "metadata changes do not bump generation"
    );
    let after_spec = deps
        .patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"replicas": 0, "minReadySeconds": 5}, "status": {"replicas": 42}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(after_spec.metadata.generation, Some(2));
    assert_ne!(
        after_spec.status.as_ref().and_then(|s| s.replicas),
        Some(42),
        "main resource ignores status"
    );
    let st = deps
        .patch_status("d", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 7}, "status": {"observedGeneration": 2, "replicas": 3}})))
        .await
        .unwrap();
    assert_eq!(st.status.unwrap().replicas, Some(3));
    assert_eq!(
        st.spec.unwrap().replicas,
        Some(0),
        "status updates ignore spec"
    );
    assert_eq!(st.metadata.generation, Some(2));
}

#[tokio::test]
async fn cluster_ip_allocation() {
    let srv = server().await;
    let svcs: Api<Service> = Api::namespaced(srv.client(), "default");
    let mk = |name: &str, extra: serde_json::Value| -> Service {
        let mut v = json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}});
        if let (Some(spec), Some(e)) = (v["spec"].as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                spec.insert(k.clone(), x.clone());
            }
        }
        serde_json::from_value(v).unwrap()
    };
    let a = svcs
        .create(&PostParams::default(), &mk("a", json!({})))
        .await
        .unwrap();
    let ip_a = a.spec.as_ref().unwrap().cluster_ip.clone().unwrap();
    let net: ipnet::Ipv4Net = "10.96.0.0/12".parse().unwrap();
    assert!(
        net.contains(&ip_a.parse::<std::net::Ipv4Addr>().unwrap()),
        "{ip_a}"
    );
    assert_eq!(
        a.spec.as_ref().unwrap().cluster_ips.as_deref(),
        Some(&[ip_a.clone()][..])
    );
    assert_eq!(
        a.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
    );
    let b = svcs
        .create(
            &PostParams::default(),
            &mk("b", json!({"clusterIP": "10.96.7.7"})),
        )
        .await
        .unwrap();
    assert_eq!(b.spec.unwrap().cluster_ip.as_deref(), Some("10.96.7.7"));
    let e = api_err(
        svcs.create(
            &PostParams::default(),
            &mk("c", json!({"clusterIP": "10.96.7.7"})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(
        e.message.contains("provided IP is already allocated"),
        "{}",
        e.message
    );
    let e = api_err(
        svcs.create(
            &PostParams::default(),
            &mk("d", json!({"clusterIP": "192.168.1.1"})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains("not in the valid range"),
        "{}",
        e.message
    );
    let np = svcs
        .create(
            &PostParams::default(),
            &mk("np", json!({"type": "NodePort"})),
        )
        .await
        .unwrap();
    let port = np.spec.unwrap().ports.unwrap()[0].node_port.unwrap();
    assert!((30000..=32767).contains(&port));
    let headless = svcs
        .create(
            &PostParams::default(),
            &mk("h", json!({"clusterIP": "None"})),
        )
        .await
        .unwrap();
    assert_eq!(headless.spec.unwrap().cluster_ip.as_deref(), Some("None"));
    let e = api_err(
        svcs.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"clusterIP": "10.96.9.9"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422, "clusterIP is immutable: {}", e.message);
    svcs.delete("b", &DeleteParams::default()).await.unwrap();
    let again = svcs
        .create(
            &PostParams::default(),
            &mk("b2", json!({"clusterIP": "10.96.7.7"})),
        )
        .await
        .unwrap();
    assert_eq!(
        again.spec.unwrap().cluster_ip.as_deref(),
        Some("10.96.7.7"),
        "a deleted service frees its IP"
    );
}

#[tokio::test]
async fn dynamic_objects_and_cluster_scope() {
    let srv = server().await;
    let gvk = GroupVersionKind::gvk("", "v1", "Namespace");
    let ar = ApiResource::from_gvk(&gvk);
    let nss: Api<DynamicObject> = Api::all_with(srv.client(), &ar);
    let obj: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dyn"}}),
    )
    .unwrap();
    let created = nss.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(
        created.metadata.labels.unwrap()["kubernetes.io/metadata.name"],
        "dyn"
    );
    let typed: Api<Namespace> = Api::all(srv.client());
    let ns = typed.get("dyn").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Active"));
    assert_eq!(
        ns.spec.unwrap().finalizers,
        Some(vec!["kubernetes".to_string()])
    );
}
