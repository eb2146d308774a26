//! The built `vcctl up` as a person uses it: started as a child process on free ports, then the
//! machine's `kubectl` against the demo tenant and the super cluster; stopped with SIGTERM,
//! started again on the same state, stopped with `vcctl down`.

use std::io::BufRead as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use vcctl::local::LocalState;

use crate::support::{Kubectl, eventually};

const VCCTL: &str = env!("CARGO_BIN_EXE_vcctl");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `vcctl up`; killed if the test ends without stopping it.
struct Up {
    child: Child,
    dir: PathBuf,
    run: usize,
}

impl Up {
    /// Starts `vcctl up` and waits for its "ready" line; returns it with the seconds it printed.
    fn start(dir: &Path, port: u16, run: usize) -> (Up, f64) {
        let stderr = std::fs::File::create(dir.join(format!("up-{run}.stderr"))).unwrap();
        let mut child = Command::new(VCCTL)
            .args(["up", "--dir"])
            .arg(dir)
            .args(["--port", &port.to_string(), "--tenants", "demo"])
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut up = Up {
            child,
            dir: dir.to_path_buf(),
            run,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("virtualcluster ready in ") {
                        let secs: f64 = rest.split('s').next().unwrap().parse().unwrap();
                        return (up, secs);
                    }
                }
                Err(_) => {
                    let status = up.child.try_wait().unwrap();
                    panic!(
                        "vcctl up (run {run}) not ready; exit status {status:?}; stderr:\n{}\nlog tail:\n{}",
                        up.stderr(),
                        tail(&dir.join("vcctl.log"), 40)
                    );
                }
            }
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("up-{}.stderr", self.run)))
            .unwrap_or_default()
    }

    /// SIGTERM, then the exit status within 30 s.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "vcctl up ignored SIGTERM for 30s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

fn running_pods(k: &Kubectl, selector: &str, want: usize) -> Result<Vec<Value>, String> {
    let pods = items(&k.json(&["get", "pods", "-l", selector]));
    let running: Vec<Value> = pods
        .iter()
        .filter(|p| {
            p["status"]["phase"] == "Running"
                && p["metadata"]["deletionTimestamp"].is_null()
                && p["status"]["podIP"]
                    .as_str()
                    .is_some_and(|ip| !ip.is_empty())
        })
        .cloned()
        .collect();
    if running.len() == want {
        Ok(running)
    } else {
        Err(format!(
            "{} of {} pods Running with an IP: {:?}",
            running.len(),
            pods.len(),
            pods.iter()
                .map(|p| (p["metadata"]["name"].clone(), p["status"]["phase"].clone()))
                .collect::<Vec<_>>()
        ))
    }
}

/// One HTTP GET to `127.0.0.1:port`.
fn http_get(port: u16) -> Result<String, String> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    Ok(body)
}

/// `kubectl port-forward pod/POD LOCAL:PORT`, then one HTTP GET through it.
fn port_forward_get(k: &Kubectl, pod: &str, port: u16, log: &Path) -> String {
    let local = free_port();
    let mut pf = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&k.kubeconfig)
        .args([
            "port-forward",
            &format!("pod/{pod}"),
            &format!("{local}:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let stdout = pf.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let result = rx
        .recv_timeout(Duration::from_secs(20))
        .map_err(|e| format!("no \"Forwarding from\" line: {e}"))
        .and_then(|_| http_get(local));
    let _ = pf.kill();
    let _ = pf.wait();
    result.unwrap_or_else(|e| {
        panic!(
            "port-forward to {pod}:{port}: {e}; kubectl said: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    })
}

fn annotation<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o["metadata"]["annotations"][key].as_str()
}

#[test]
fn vcctl_up_gives_a_working_tenant_and_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (up, ready_secs) = Up::start(dir.path(), port, 1);
    println!("vcctl up: start-to-ready {ready_secs:.2}s (first start, debug build)");
    let state = LocalState::load(dir.path()).unwrap().unwrap();
    assert!(state.ready && state.super_url.ends_with(&format!(":{port}")));
    let key = state.tenants["demo"].cluster_key.clone();
    let demo = Kubectl::new(dir.path().join("demo.kubeconfig"));
    let sup = Kubectl::new(dir.path().join("super.kubeconfig"));

    demo.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=3",
        "--port=80",
    ]);
    let pods = eventually("3 web pods Running", Duration::from_secs(60), || {
        running_pods(&demo, "app=web", 3)
    });
    let virtual_nodes: Vec<String> =
        items(&demo.json(&["get", "nodes", "-l", "tenancy.x-k8s.io/virtualnode=true"]))
            .iter()
            .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
    for p in &pods {
        let node = p["spec"]["nodeName"].as_str().unwrap();
        assert!(
            virtual_nodes.iter().any(|n| n == node),
            "{node} is not a virtual node"
        );
        let ip: std::net::IpAddr = p["status"]["podIP"].as_str().unwrap().parse().unwrap();
        assert!(!ip.is_loopback());
    }
    let pod = pods[0]["metadata"]["name"].as_str().unwrap().to_string();

    // logs and exec: tenant API server → vn-agent → the simulated kubelet.
    let logs = demo.ok(&["logs", &pod, "--tail=2"]);
    assert!(
        logs.contains(&pod) && logs.contains("container nginx"),
        "logs: {logs}"
    );
    assert_eq!(demo.ok(&["exec", &pod, "--", "echo", "hi"]).trim(), "hi");
    let answer = port_forward_get(&demo, &pod, 80, &dir.path().join("port-forward.log"));
    assert!(
        answer.contains("port 80: GET /"),
        "through port-forward: {answer:?}; kubectl said: {}",
        std::fs::read_to_string(dir.path().join("port-forward.log")).unwrap_or_default()
    );

    demo.ok(&["expose", "deployment", "web", "--port", "80"]);
    let (tenant_ip, super_ip) = eventually(
        "the back-populated clusterIP",
        Duration::from_secs(30),
        || {
            let svc = demo.json(&["get", "service", "web"]);
            match annotation(&svc, "transparency.tenancy.x-k8s.io/clusterIP") {
                Some(ip) => Ok((
                    svc["spec"]["clusterIP"].as_str().unwrap().to_string(),
                    ip.to_string(),
                )),
                None => Err(format!("{}", svc["metadata"])),
            }
        },
    );

    // The super cluster side: prefixed namespaces and the contract's annotations.
    let super_ns = format!("{key}-default");
    let ns = sup.json(&["get", "namespace", &super_ns]);
    assert_eq!(
        annotation(&ns, "tenancy.x-k8s.io/cluster"),
        Some(key.as_str())
    );
    assert_eq!(annotation(&ns, "tenancy.x-k8s.io/vcname"), Some("demo"));
    let root = sup.json(&["get", "namespace", &key]);
    assert_eq!(annotation(&root, "tenancy.x-k8s.io/vcrootns"), Some("true"));
    let super_pods = items(&sup.json(&["get", "pods", "-n", &super_ns]));
    for p in &pods {
        let name = p["metadata"]["name"].as_str().unwrap();
        let sp = super_pods
            .iter()
            .find(|s| s["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no super copy of {name} in {super_ns}"));
        assert_eq!(
            annotation(sp, "tenancy.x-k8s.io/cluster"),
            Some(key.as_str())
        );
        assert_eq!(
            annotation(sp, "tenancy.x-k8s.io/namespace"),
            Some("default")
        );
        assert_eq!(
            annotation(sp, "tenancy.x-k8s.io/uid"),
            p["metadata"]["uid"].as_str()
        );
        assert_eq!(annotation(sp, "tenancy.x-k8s.io/vcname"), Some("demo"));
        assert_eq!(
            annotation(sp, "tenancy.x-k8s.io/vcnamespace"),
            Some("default")
        );
        assert!(annotation(sp, "tenancy.x-k8s.io/ownerReferences").is_some());
        assert_eq!(sp["metadata"]["labels"]["tenancy.x-k8s.io/vcname"], "demo");
        // The tenant sees the super node's name and the pod IP the super cluster assigned.
        assert_eq!(sp["spec"]["nodeName"], p["spec"]["nodeName"]);
        assert_eq!(sp["status"]["podIP"], p["status"]["podIP"]);
    }
    let super_svc = sup.json(&["get", "service", "web", "-n", &super_ns]);
    assert_eq!(
        super_svc["spec"]["clusterIP"].as_str(),
        Some(super_ip.as_str())
    );
    assert_eq!(
        annotation(&super_svc, "tenancy.x-k8s.io/clusterIP"),
        Some(tenant_ip.as_str())
    );

    // Deletes go down: the service, and a pod (its ReplicaSet replaces it).
    demo.ok(&["delete", "service", "web"]);
    demo.ok(&["delete", "pod", &pod, "--wait=true"]);
    eventually("the super copies deleted", Duration::from_secs(30), || {
        let svcs = items(&sup.json(&["get", "services", "-n", &super_ns]));
        let pods = items(&sup.json(&["get", "pods", "-n", &super_ns]));
        let svc_left = svcs.iter().any(|s| s["metadata"]["name"] == "web");
        let pod_left = pods.iter().any(|p| p["metadata"]["name"] == pod.as_str());
        if svc_left || pod_left {
            Err(format!("service left: {svc_left}, pod left: {pod_left}"))
        } else {
            Ok(())
        }
    });
    eventually("3 web pods Running again", Duration::from_secs(60), || {
        running_pods(&demo, "app=web", 3)
    });

    let status = up.terminate();
    assert!(
        status.success(),
        "vcctl up exited with {status:?} after SIGTERM"
    );
    let state = LocalState::load(dir.path()).unwrap().unwrap();
    assert_eq!(state.pid, None, "a clean stop clears the pid");

    // Same state directory: the tenant and its objects are back.
    let (up, ready_secs) = Up::start(dir.path(), port, 2);
    println!("vcctl up: start-to-ready {ready_secs:.2}s (resuming)");
    let deploy = demo.json(&["get", "deployment", "web"]);
    assert_eq!(deploy["spec"]["replicas"], 3);
    eventually(
        "3 web pods Running after the restart",
        Duration::from_secs(60),
        || running_pods(&demo, "app=web", 3),
    );
    assert!(demo.run(&["get", "service", "web"]).status.code() != Some(0));

    let out = Command::new(VCCTL)
        .args(["status", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("running (pid "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("demo ") && l.contains("Running")),
        "{text}"
    );
    assert!(
        text.lines().filter(|l| l.contains(" Ready ")).count() >= 4,
        "{text}"
    );

    // `vcctl down` stops it (the test reaps its child meanwhile).
    let dir_path = dir.path().to_path_buf();
    let down = std::thread::spawn(move || {
        Command::new(VCCTL)
            .args(["down", "--dir"])
            .arg(&dir_path)
            .output()
            .unwrap()
    });
    let mut up = up;
    let status = up.child.wait().unwrap();
    let out = down.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("stopped (pid "));
    assert!(
        status.success(),
        "vcctl up exited with {status:?} after vcctl down"
    );
}
