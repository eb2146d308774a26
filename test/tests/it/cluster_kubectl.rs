//! A person with the stock kubectl against the embedded API server and simulated nodes:
//! apply (create, strategic-merge update, server-side apply with a conflict), upstream columns,
//! describe, edit, explain, deployments with scale and rollout status, logs/exec/port-forward
//! through the API server's kubelet proxy, wait, and namespace deletion.

use std::io::{Read, Write};
use std::time::Duration;

use crate::support::{Kubectl, SimCluster, free_port};

const APP: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        ports: [{containerPort: 80, name: http}]
        env: [{name: MODE, value: blue}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_fidelity_against_a_simulated_cluster() {
    let cluster = SimCluster::start(2).await;
    let k = Kubectl::new(cluster.server.kubeconfig_yaml());
    let run = |args: &[&str]| k.ok(args);
    let rolled_out = || {
        run(&[
            "-n",
            "shop",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=60s",
        ])
    };

    run(&["create", "namespace", "shop"]);
    let manifest = k.dir().join("app.yaml");
    std::fs::write(&manifest, APP).unwrap();
    let out = run(&["apply", "-f", manifest.to_str().unwrap()]);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    rolled_out();

    // Upstream's columns.
    let out = run(&["-n", "shop", "get", "pods"]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("Running") && l.contains("1/1"))
            .count(),
        2,
        "{out}"
    );
    let out = run(&["-n", "shop", "get", "deploy", "web"]);
    assert!(
        out.lines()
            .next()
            .unwrap()
            .starts_with("NAME   READY   UP-TO-DATE   AVAILABLE   AGE"),
        "{out}"
    );
    assert!(out.contains("2/2"), "{out}");
    let out = run(&["get", "nodes"]);
    assert!(out.lines().next().unwrap().starts_with("NAME"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains(" Ready ")).count(),
        2,
        "{out}"
    );

    // Change the manifest and apply again: a strategic merge patch updates the deployment.
    std::fs::write(
        &manifest,
        APP.replace("replicas: 2", "replicas: 3")
            .replace("value: blue", "value: green"),
    )
    .unwrap();
    let out = run(&["apply", "-f", manifest.to_str().unwrap()]);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    assert!(out.contains("service/web unchanged"), "{out}");
    rolled_out();
    let env = run(&[
        "-n",
        "shop",
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env[0].value} {.spec.replicas}",
    ]);
    assert_eq!(env.trim(), "green 3");

    // Scale, then roll out again.
    run(&["-n", "shop", "scale", "deployment/web", "--replicas=4"]);
    rolled_out();
    run(&[
        "-n",
        "shop",
        "wait",
        "--for=condition=Ready",
        "pod",
        "-l",
        "app=web",
        "--timeout=60s",
    ]);
    let n = run(&["-n", "shop", "get", "pods", "-l", "app=web", "-o", "name"])
        .lines()
        .count();
    assert_eq!(n, 4);

    // describe and explain.
    let out = run(&["-n", "shop", "describe", "deployment", "web"]);
    assert!(
        out.contains("Replicas:") && out.contains("4 desired"),
        "{out}"
    );
    let out = run(&["-n", "shop", "describe", "service", "web"]);
    assert!(out.contains("Endpoints:") && out.contains(":80"), "{out}");
    let out = run(&["explain", "pod.spec.containers"]);
    assert!(out.contains("FIELD: containers <[]Container>"), "{out}");

    // edit through an editor that rewrites the image.
    let editor = k.dir().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/nginx:1.25/nginx:1.27/' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = k
        .command(&["-n", "shop", "edit", "deployment/web"])
        .env("KUBE_EDITOR", &editor)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = run(&[
        "-n",
        "shop",
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "nginx:1.27");
    rolled_out();

    // Server-side apply with two field managers.
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: shop}\ndata: {color: red}\n";
    k.ok_stdin(
        &["apply", "--server-side", "--field-manager=alice", "-f", "-"],
        cm,
    );
    let (ok, _, err) = {
        use std::process::Stdio;
        let mut child = k
            .command(&["apply", "--server-side", "--field-manager=bob", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(cm.replace("red", "blue").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(!ok, "a second manager changing an owned field conflicts");
    assert!(
        err.contains("conflict with \"alice\"") && err.contains(".data.color"),
        "{err}"
    );
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=bob",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &cm.replace("red", "blue"),
    );
    let color = run(&[
        "-n",
        "shop",
        "get",
        "cm",
        "cfg",
        "-o",
        "jsonpath={.data.color}",
    ]);
    assert_eq!(color, "blue");

    // logs, exec and port-forward reach the simulated kubelet through the API server.
    let pod = run(&[
        "-n",
        "shop",
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let logs = run(&["-n", "shop", "logs", &pod]);
    assert!(
        logs.contains(&format!("nodesim shop/{pod} container app")),
        "{logs}"
    );
    // A container that never restarted has no previous logs: upstream's BadRequest, worded by
    // the kubelet.
    let (ok, _, err) = k.run(&["-n", "shop", "logs", &pod, "--previous"]);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "Error from server (BadRequest): previous terminated container \"app\" in pod \"{pod}\" not found"
        )),
        "{err}"
    );
    let out = run(&["-n", "shop", "exec", &pod, "--", "echo", "hi"]);
    assert_eq!(out, "hi\n");
    let out = run(&["-n", "shop", "exec", &pod, "--", "printenv", "MODE"]);
    assert_eq!(out.trim(), "green");
    let port = free_port();
    let mut pf = k
        .command(&[
            "-n",
            "shop",
            "port-forward",
            &format!("pod/{pod}"),
            &format!("{port}:80"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reply = String::new();
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let _ = s.read_to_string(&mut reply);
            if !reply.is_empty() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = pf.kill();
    let _ = pf.wait();
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(
        reply.contains(&format!("nodesim shop/{pod} port 80: GET /hello")),
        "{reply}"
    );

    // Deleting the namespace completes: content first, then the namespace.
    run(&["delete", "namespace", "shop", "--timeout=90s"]);
    let (ok, _, _) = k.run(&["get", "namespace", "shop"]);
    assert!(!ok, "namespace is gone");
}
