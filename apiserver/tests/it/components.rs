//! `kubectl get componentstatuses` as upstream v1.28 answers it (columns, the deprecation
//! warning, the reason-less 500 of an unknown component, no watch), with health derived from
//! what the server runs: no control loops means an unhealthy controller manager.

use apiserver::ServerBuilder;

use crate::harness::{Kubectl, server};

const WARNING: &str = "Warning: v1 ComponentStatus is deprecated in v1.19+";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn componentstatuses_report_the_servers_health() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let (ok, out, err) = k.run(&["get", "cs"]);
    assert!(ok, "{err}");
    assert!(err.contains(WARNING), "{err}");
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec!["NAME", "STATUS", "MESSAGE", "ERROR"],
            vec!["controller-manager", "Healthy", "ok"],
            vec!["etcd-0", "Healthy", "ok"],
        ],
        "{out}"
    );
    let one = k.ok(&[
        "get",
        "componentstatus",
        "etcd-0",
        "-o",
        "jsonpath={.kind} {.conditions[0].type}={.conditions[0].status}",
    ]);
    assert_eq!(one, "ComponentStatus Healthy=True");
    let (ok, _, err) = k.run(&["get", "cs", "nope"]);
    assert!(!ok);
    assert!(
        err.contains("Error from server: Component not found: nope"),
        "{err}"
    );
    let (ok, _, err) = k.run(&["get", "cs", "-w", "--request-timeout=5s"]);
    assert!(!ok);
    assert!(err.contains("(MethodNotAllowed)"), "{err}");
    let only = k.ok(&[
        "get",
        "cs",
        "--field-selector",
        "metadata.name=etcd-0",
        "-o",
        "name",
    ]);
    assert_eq!(only, "componentstatus/etcd-0\n");
    let resources = k.ok(&["api-resources", "--api-group="]);
    assert!(
        resources
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["componentstatuses", "cs", "v1", "false", "ComponentStatus"]),
        "{resources}"
    );

    // Without control loops there is no healthy controller manager.
    let bare = ServerBuilder::new()
        .controllers(Vec::<String>::new())
        .start()
        .await
        .unwrap();
    let k = Kubectl::new(&bare);
    let row = k.ok(&["get", "cs", "controller-manager", "--no-headers"]);
    assert!(
        row.starts_with("controller-manager   Unhealthy   no control loop is running"),
        "{row}"
    );
}
