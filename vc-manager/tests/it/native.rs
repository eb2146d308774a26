//! `native`: the ClusterVersion's objects, exactly, in the root namespace.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crds::{ClusterPhase, ClusterVersion, Provisioner};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use vc_manager::pki::inspect::parse_cert_pem;
use vc_manager::pki::kubeconfig;
use vc_manager::pki::secrets::read_tls;
use vc_manager::provisioner::native::{RenderInputs, render_desired, secret_hashes};

use crate::harness::*;

/// Whether every field `want` sets has the same value in `got` (the server may add defaults).
fn covers(got: &Value, want: &Value, path: &str) -> Result<(), String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                let gv = g.get(k).ok_or_else(|| format!("{path}.{k} is missing"))?;
                covers(gv, wv, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(g), Value::Array(w)) => {
            if g.len() != w.len() {
                return Err(format!("{path}: {} items, want {}", g.len(), w.len()));
            }
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                covers(gv, wv, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if got == want => Ok(()),
        _ => Err(format!("{path} is {got}, want {want}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_creates_exactly_what_the_cluster_version_describes() {
    // No statefulset controller in this super cluster: the test plays its part below.
    let env = Env::start_super_with(
        |b| b.controllers(["*".to_string(), "-statefulset".to_string()]),
        |_| {},
    )
    .await;
    env.create("nat", spec(Provisioner::Native)).await;
    let vc = env
        .wait_vc("nat", "waiting for its control plane", |vc| {
            vc.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("WaitingForControlPlane")
        })
        .await;
    let key = vc.status.unwrap().cluster_namespace.unwrap();

    let cv: ClusterVersion = serde_yaml::from_str(SAMPLE_CV).unwrap();
    let secrets = env.secrets(&key).await;
    let hashes = secret_hashes(&secrets);
    let desired = render_desired(
        &cv,
        &RenderInputs {
            namespace: &key,
            service_cidr: "10.32.0.0/16",
            secret_hashes: &hashes,
        },
    )
    .unwrap();

    let stss: Api<StatefulSet> = Api::namespaced(env.client.clone(), &key);
    let svcs: Api<Service> = Api::namespaced(env.client.clone(), &key);
    let live_sts = stss.list(&ListParams::default()).await.unwrap().items;
    let live_svc = svcs.list(&ListParams::default()).await.unwrap().items;
    let names = |items: Vec<Option<String>>| items.into_iter().flatten().collect::<BTreeSet<_>>();
    assert_eq!(
        names(live_sts.iter().map(|s| s.metadata.name.clone()).collect()),
        BTreeSet::from([
            "etcd".into(),
            "apiserver".into(),
            "controller-manager".into()
        ])
    );
    assert_eq!(
        names(live_svc.iter().map(|s| s.metadata.name.clone()).collect()),
        BTreeSet::from(["etcd".into(), "apiserver-svc".into()])
    );
    for (_, want) in &desired.stateful_sets {
        let name = want.metadata.name.clone().unwrap();
        let got = live_sts
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(&name))
            .unwrap();
        let mut want_json = serde_json::to_value(want).unwrap();
        want_json.as_object_mut().unwrap().remove("status");
        covers(&serde_json::to_value(got).unwrap(), &want_json, &name).unwrap();
        let managers: Vec<String> = got
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|m| m.manager.clone())
            .collect();
        assert!(
            managers.contains(&"vc-manager".to_string()),
            "{name}: {managers:?}"
        );
    }
    for want in &desired.services {
        let name = want.metadata.name.clone().unwrap();
        let got = live_svc
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(&name))
            .unwrap();
        covers(
            &serde_json::to_value(got).unwrap(),
            &serde_json::to_value(want).unwrap(),
            &name,
        )
        .unwrap();
    }

    // The API server certificate names its Service's address, and the kubeconfig uses it.
    let svc = live_svc
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some("apiserver-svc"))
        .unwrap();
    let ip: IpAddr = svc
        .spec
        .as_ref()
        .unwrap()
        .cluster_ip
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    let (cert, _) = read_tls(&secrets["apiserver-ca"]).unwrap();
    let info = parse_cert_pem(&cert).unwrap();
    assert!(info.ips.contains(&ip));
    for dns in [
        "apiserver-svc".to_string(),
        format!("apiserver-svc.{key}"),
        format!("apiserver-svc.{key}.svc"),
        format!("apiserver-svc.{key}.svc.cluster.local"),
    ] {
        assert!(info.dns.contains(&dns), "{dns}");
    }
    let admin = kubeconfig::parse(&env.admin_kubeconfig(&key).await).unwrap();
    assert_eq!(admin.server, format!("https://{ip}:6443"));

    // Until the StatefulSets are ready the tenant is not Running; then it is.
    assert_eq!(
        env.vcs().get("nat").await.unwrap().phase(),
        Some(ClusterPhase::Provisioning)
    );
    for sts in &live_sts {
        let name = sts.metadata.name.clone().unwrap();
        let status = json!({"status": {
            "observedGeneration": sts.metadata.generation,
            "replicas": 1, "readyReplicas": 1, "currentReplicas": 1, "updatedReplicas": 1,
        }});
        stss.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }
    let vc = env.wait_running("nat").await;
    assert!(
        vc.status
            .unwrap()
            .message
            .unwrap()
            .contains("etcd, apiserver, controller-manager")
    );
    env.stop().await;
}
