//! `config/`: one kustomization renders every component; the real `kubectl apply -k` puts all
//! of it (and the samples) into an embedded super cluster; workloads run as the identities the
//! local instance gives each component.

use std::time::Duration;

use apiserver::ServerBuilder;
use serde_json::Value;
use vcctl::local::COMPONENTS;

use crate::support::{Kubectl, config_dir, eventually, kind, kustomize, name};

fn find<'a>(objects: &'a [Value], k: &str, n: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| kind(o) == k && name(o) == n)
        .unwrap_or_else(|| panic!("kubectl kustomize config/ renders no {k} {n}"))
}

#[test]
fn one_kustomization_renders_every_component_with_its_identity() {
    let objects = kustomize(&config_dir());
    find(
        &objects,
        "CustomResourceDefinition",
        "virtualclusters.tenancy.x-k8s.io",
    );
    find(
        &objects,
        "CustomResourceDefinition",
        "clusterversions.tenancy.x-k8s.io",
    );
    find(&objects, "Namespace", "vc-manager");
    let workloads = [
        ("Deployment", "vc-manager", "vc-manager"),
        ("Deployment", "vc-syncer", "syncer"),
        ("DaemonSet", "vn-agent", "vn-agent"),
    ];
    for (k, n, component) in workloads {
        let w = find(&objects, k, n);
        assert_eq!(w["metadata"]["namespace"], "vc-manager", "{k} {n}");
        let sa = w["spec"]["template"]["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or_else(|| panic!("{k} {n} names no service account"));
        find(&objects, "ServiceAccount", sa);
        // The local instance authenticates each component as this same service account, so
        // what it records is checked against the right roles.
        let local = COMPONENTS.iter().find(|c| c.name == component).unwrap();
        assert_eq!(local.service_account, sa, "{component}");
        let c = &w["spec"]["template"]["spec"]["containers"][0];
        assert!(
            c["resources"]["requests"].is_object(),
            "{k} {n}: resource requests"
        );
        assert!(
            c["livenessProbe"].is_object() && c["readinessProbe"].is_object(),
            "{k} {n}: probes"
        );
    }
    // Every namespaced object lands in the components' namespace.
    for o in &objects {
        let cluster_scoped = matches!(
            kind(o),
            "Namespace" | "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding"
        );
        assert_eq!(
            o["metadata"]["namespace"].is_null(),
            cluster_scoped,
            "{} {}",
            kind(o),
            name(o)
        );
    }
    let samples = kustomize(&config_dir().join("samples"));
    assert!(samples.iter().any(|o| kind(o) == "ClusterVersion"));
    for p in ["native", "local", "import"] {
        assert!(
            samples
                .iter()
                .any(|o| kind(o) == "VirtualCluster" && o["spec"]["provisioner"] == p),
            "a sample VirtualCluster for the {p} provisioner"
        );
    }
}

/// `kubectl get -k DIR -o name` lists `kind.group/name` of what is in the cluster.
fn names_in_cluster(k: &Kubectl, dir: &std::path::Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    let mut v: Vec<String> = k
        .ok(&["get", "-k", &dir, "-o", "name"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_k_puts_every_manifest_into_an_embedded_super_cluster() {
    common::process::install_crypto_provider();
    let server = ServerBuilder::new().name("super").start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("super.kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig_yaml()).unwrap();
    tokio::task::spawn_blocking(move || {
        let k = Kubectl::new(&kubeconfig);
        let config = config_dir();
        let out = k.ok(&["apply", "-k", &config.to_string_lossy()]);
        let rendered = kustomize(&config);
        assert_eq!(
            out.lines().count(),
            rendered.len(),
            "one line per object:\n{out}"
        );
        assert!(out.lines().all(|l| l.ends_with(" created")), "{out}");
        // Everything rendered is there, nothing else.
        assert_eq!(names_in_cluster(&k, &config).len(), rendered.len());
        // A second apply changes nothing.
        let again = k.ok(&["apply", "-k", &config.to_string_lossy()]);
        assert!(again.lines().all(|l| l.ends_with(" unchanged")), "{again}");

        // Samples once the CRDs are served.
        let samples = config.join("samples");
        let out = eventually("samples accepted", Duration::from_secs(20), || {
            let o = k.run(&["apply", "-k", &samples.to_string_lossy()]);
            if o.status.success() {
                Ok(String::from_utf8_lossy(&o.stdout).into_owned())
            } else {
                Err(String::from_utf8_lossy(&o.stderr).into_owned())
            }
        });
        assert_eq!(out.lines().count(), kustomize(&samples).len(), "{out}");
        let vcs = k.json(&["get", "virtualclusters", "-A"]);
        assert_eq!(vcs["items"].as_array().unwrap().len(), 3);
        // The server kept what was sent (no pruned unknown fields in the samples).
        let native = k.json(&["get", "vc", "demo-native", "-n", "default"]);
        assert_eq!(native["spec"]["serviceCidr"], "10.32.0.0/16");
        let cv = k.json(&["get", "clusterversion", "v1.31"]);
        assert!(
            cv["spec"]["apiServer"]["statefulset"]["spec"]["template"]["spec"]["containers"][0]
                ["image"]
                .as_str()
                .unwrap()
                .starts_with("registry.k8s.io/kube-apiserver:v1.")
        );
    })
    .await
    .unwrap();
    server.shutdown().await;
}
