//! The real kubectl against a live server.

use crate::harness::{Kubectl, server};

const MANIFEST: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: from-file
  namespace: default
data:
  a: "1"
---
apiVersion: v1
kind: Secret
metadata:
  name: s1
  namespace: default
stringData:
  k: v
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_core_commands() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let out = k.ok(&["version", "-o", "json"]);
    assert!(out.contains("\"gitVersion\": \"v1.33"), "{out}");
    let out = k.ok_stdin(&["create", "-f", "-", "--validate=false"], MANIFEST);
    assert!(out.contains("configmap/from-file created"), "{out}");
    assert!(out.contains("secret/s1 created"), "{out}");
    let out = k.ok(&["get", "configmap", "from-file", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["data"]["a"], "1");
    let out = k.ok(&["get", "configmap", "from-file", "-o", "yaml"]);
    assert!(out.contains("name: from-file"));
    let out = k.ok(&["get", "configmaps", "-o", "name"]);
    assert!(out.contains("configmap/from-file"), "{out}");
    k.ok(&["label", "configmap", "from-file", "tier=gold"]);
    k.ok(&["annotate", "configmap", "from-file", "note=hello"]);
    let out = k.ok(&[
        "get",
        "configmap",
        "-l",
        "tier=gold",
        "-o",
        "jsonpath={.items[*].metadata.annotations.note}",
    ]);
    assert_eq!(out.trim(), "hello");
    let out = k.ok(&["api-resources"]);
    for r in ["pods", "deployments", "customresourcedefinitions", "leases"] {
        assert!(out.contains(r), "api-resources lists {r}");
    }
    let out = k.ok(&["delete", "configmap", "from-file"]);
    assert!(out.contains("deleted"), "{out}");
    let (ok, _, _) = k.run(&["get", "configmap", "from-file"]);
    assert!(!ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_is_bounded() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let kc = k.kubeconfig().to_path_buf();
    let watcher = std::thread::spawn(move || {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .args([
                "get",
                "configmaps",
                "--watch",
                "--request-timeout=4s",
                "-o",
                "name",
            ])
            .output()
            .unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    k.ok_stdin(
        &["create", "-f", "-", "--validate=false"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\n  namespace: default\n",
    );
    let out = watcher.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("configmap/watched"),
        "stdout: {stdout} stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boolean_field_selectors_match_absent_fields_as_false() {
    let srv = crate::harness::server().await;
    let k = crate::harness::Kubectl::new(&srv);
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: plain\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: cordoned\nspec:\n  unschedulable: true\n",
    );
    let schedulable = k.ok(&[
        "get",
        "nodes",
        "--field-selector",
        "spec.unschedulable=false",
        "-o",
        "name",
    ]);
    assert_eq!(schedulable.trim(), "node/plain");
    let cordoned = k.ok(&[
        "get",
        "nodes",
        "--field-selector",
        "spec.unschedulable=true",
        "-o",
        "name",
    ]);
    assert_eq!(cordoned.trim(), "node/cordoned");
    k.ok(&["run", "p", "--image=nginx"]);
    let pods = k.ok(&[
        "get",
        "pods",
        "--field-selector",
        "spec.hostNetwork=false",
        "-o",
        "name",
    ]);
    assert_eq!(pods.trim(), "pod/p");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csi_storage_capacities_are_served_and_validated() {
    let srv = crate::harness::server().await;
    let k = crate::harness::Kubectl::new(&srv);
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: storage.k8s.io/v1\nkind: CSIStorageCapacity\nmetadata: {name: cap1, namespace: default}\nstorageClassName: fast\ncapacity: 10Gi\n",
    );
    assert_eq!(
        k.ok(&[
            "get",
            "csistoragecapacities",
            "-o",
            "jsonpath={.items[0].capacity}"
        ]),
        "10Gi"
    );
    let (ok, _, err) = k.run_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: storage.k8s.io/v1\nkind: CSIStorageCapacity\nmetadata: {name: cap2, namespace: default}\n"),
    );
    assert!(!ok);
    assert!(
        err.contains("storageClassName: Invalid value: \"\": a lowercase RFC 1123 subdomain"),
        "{err}"
    );
}
