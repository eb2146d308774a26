//! The whole chain a tenant user relies on for `kubectl logs -f`, `attach`, `exec` and
//! `port-forward`: tenant API server → vn-agent (tenant certificate checked against that
//! tenant's CA) → the kubelet of the super node running the pod, with everything started by
//! `vcctl::local` in this process. Two tenants with the same pod name stay apart.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use vcctl::local::{LocalCluster, LocalOptions};

use crate::support::Kubectl;

fn wait_running(k: &Kubectl, pod: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (ok, out, _) = k.run(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]);
        if ok && out == "Running" {
            return;
        }
        assert!(Instant::now() < deadline, "pod {pod} not Running: {out}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenant_kubectl_reaches_kubelets_through_vn_agent() {
    common::process::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LocalOptions::new(dir.path().join("vc"));
    opts.port = 0;
    opts.tenants = vec!["alpha".into(), "beta".into()];
    let cluster = LocalCluster::start(opts).await.unwrap();
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap();
    let alpha = Kubectl::new(&read(cluster.tenant_kubeconfig("alpha")));
    let beta = Kubectl::new(&read(cluster.tenant_kubeconfig("beta")));
    // kubectl runs block: keep them off the runtime threads serving the cluster.
    tokio::task::spawn_blocking(move || {
        for k in [&alpha, &beta] {
            k.ok(&[
                "run",
                "app",
                "--image=nginx",
                "--port=8080",
                "--restart=Never",
            ]);
        }
        wait_running(&alpha, "app");
        wait_running(&beta, "app");

        // The scheduler's and kubelet's events reach the tenant, named in the tenant's terms.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let events = alpha.ok(&[
                "get",
                "events",
                "--field-selector=involvedObject.name=app",
                "-o",
                "jsonpath={range .items[*]}{.reason}={.message}{\"\\n\"}{end}",
            ]);
            let has = |reason: &str| events.lines().any(|l| l.starts_with(reason));
            if has("Scheduled=") && has("Started=") {
                assert!(
                    events.contains("Successfully assigned default/app to "),
                    "{events}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "events missing: {events}");
            std::thread::sleep(Duration::from_millis(200));
        }

        // logs -f keeps streaming new lines.
        let mut follow = alpha
            .command(&["logs", "-f", "app"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        assert!(
            first.contains("nodesim ") && first.contains("/app container app"),
            "{first}"
        );
        let later = lines.next().unwrap().unwrap();
        assert_ne!(first, later);
        let _ = follow.kill();
        let _ = follow.wait();

        // Each tenant sees only its own pod's logs (same pod name, different super namespaces).
        let a = alpha.ok(&["logs", "app", "--tail=1"]);
        let b = beta.ok(&["logs", "app", "--tail=1"]);
        let super_ns = |line: &str| {
            line.split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string()
        };
        assert_ne!(super_ns(&a), super_ns(&b), "alpha: {a} beta: {b}");

        // exec and attach (stdin echoed by the container's main process).
        assert_eq!(alpha.ok(&["exec", "app", "--", "echo", "hi"]), "hi\n");
        let mut attach = alpha
            .command(&["attach", "-i", "app"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = attach.stdin.take().unwrap();
        stdin.write_all(b"ping-through-attach\n").unwrap();
        let mut out = attach.stdout.take().unwrap();
        let mut seen = String::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while !seen.contains("ping-through-attach") && Instant::now() < deadline {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        drop(stdin);
        let _ = attach.kill();
        let _ = attach.wait();
        assert!(
            seen.contains("ping-through-attach"),
            "attach output: {seen}"
        );

        // port-forward to the declared container port.
        let port = crate::support::free_port();
        let mut pf = alpha
            .command(&["port-forward", "pod/app", &format!("{port}:8080")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reply = String::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while reply.is_empty() && Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let _ = s.write_all(b"GET /chain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let _ = s.read_to_string(&mut reply);
            } else {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = pf.kill();
        let _ = pf.wait();
        assert!(reply.contains("port 8080: GET /chain"), "{reply}");
    })
    .await
    .unwrap();
    cluster.shutdown().await;
}
