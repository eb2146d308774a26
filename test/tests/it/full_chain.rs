//! The whole chain a tenant user relies on, with everything started by `vcctl::local` in this
//! process: a pod created in a tenant reaches the super cluster, runs on a simulated node and
//! reports its status back; `kubectl logs -f`, `attach`, `exec` and `port-forward` go tenant
//! API server → vn-agent (tenant certificate checked against that tenant's CA) → the kubelet
//! of the super node running the pod; a service gets the super cluster's clusterIP back;
//! deletions reach the super cluster; a restarted syncer catches up with what changed while it
//! was down; a deleted VirtualCluster leaves nothing behind. Two tenants with the same pod name
//! stay apart.
//!
//! The same scenarios run against each super cluster and tenant control plane:
//! - the embedded super cluster and embedded tenant API servers (always);
//! - a real upstream v1.28 super cluster (`../shared/upstream-k8s/start.sh`: etcd,
//!   kube-apiserver, kube-controller-manager, kube-scheduler) with vc-manager, the syncer and
//!   vn-agent authenticating as their service accounts bound to the RBAC of `config/`;
//! - tenant control planes on upstream binaries (`local` provisioner: etcd, kube-apiserver,
//!   kube-controller-manager), on the upstream super cluster and on the embedded one.
//!
//! The upstream variants skip, saying why, when the binaries are not available (see
//! `upstream.rs`). Each test prints which backends it used.

use std::io::{BufRead, BufReader, Read, Write};
use std::panic::AssertUnwindSafe;
use std::process::Stdio;
use std::time::{Duration, Instant};

use vcctl::local::{LocalCluster, LocalHandle, LocalOptions};

use crate::support::{Kubectl, say};
use crate::upstream::{Upstream, UpstreamSuper};

/// The super cluster of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SuperKind {
    /// The embedded API server.
    Embedded,
    /// A real upstream control plane.
    Upstream,
}

/// What runs the tenants' control planes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TenantKind {
    /// The embedded API server (SQLite).
    Embedded,
    /// Upstream etcd, kube-apiserver and kube-controller-manager.
    Upstream,
}

/// A running instance and what it needs to stay alive.
struct Setup {
    cluster: LocalHandle,
    upstream_super: Option<UpstreamSuper>,
    _bins: Option<tempfile::TempDir>,
    _dir: tempfile::TempDir,
    label: String,
}

impl Setup {
    /// Starts the instance with tenants `alpha` and `beta`; `None` (said why) when the upstream
    /// binaries a variant needs are not available.
    async fn start(test: &str, sup: SuperKind, tenants: TenantKind) -> Option<Setup> {
        common::process::install_crypto_provider();
        let label = format!(
            "super: {}, tenants: {}",
            match sup {
                SuperKind::Embedded => "embedded",
                SuperKind::Upstream => "upstream v1.28 (start.sh)",
            },
            match tenants {
                TenantKind::Embedded => "embedded",
                TenantKind::Upstream => "upstream v1.28 binaries",
            }
        );
        let upstream = if sup == SuperKind::Upstream || tenants == TenantKind::Upstream {
            match Upstream::find() {
                Ok(u) => Some(u),
                Err(why) => {
                    say(&format!("SKIP {test} ({label}): {why}"));
                    return None;
                }
            }
        } else {
            None
        };
        say(&format!("RUN {test} ({label})"));
        let dir = tempfile::tempdir().unwrap();
        let mut opts = LocalOptions::new(dir.path().join("vc"));
        opts.port = 0;
        opts.tenants = vec!["alpha".into(), "beta".into()];
        opts.tenant_timeout = Duration::from_secs(180);
        let upstream_super = match (sup, &upstream) {
            (SuperKind::Upstream, Some(u)) => {
                let u = u.clone();
                let name = format!("e2e-{}", std::process::id());
                let name = format!("{name}-{}", crate::support::free_port());
                let s = tokio::task::spawn_blocking(move || UpstreamSuper::start(&u, &name))
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("{test}: the upstream super cluster: {e}"));
                opts.super_cluster = Some(s.external().await);
                Some(s)
            }
            _ => None,
        };
        let bins = match (tenants, &upstream) {
            (TenantKind::Upstream, Some(u)) => Some(u.tenant_binaries()),
            _ => None,
        };
        opts.control_plane_binaries = bins.as_ref().map(|b| b.path().to_path_buf());
        let t0 = Instant::now();
        // Boxed: the start future is large for a test thread's stack.
        let cluster = match Box::pin(LocalCluster::start(opts)).await {
            Ok(c) => c,
            Err(e) => {
                let logs = upstream_super
                    .as_ref()
                    .map(UpstreamSuper::log_tails)
                    .unwrap_or_default();
                let tenant_logs = tenant_log_tails(&dir.path().join("vc"));
                panic!("{test} ({label}): the instance did not start: {e}\n{logs}\n{tenant_logs}")
            }
        };
        say(&format!(
            "  {test}: ready after {:.1}s",
            t0.elapsed().as_secs_f64()
        ));
        Some(Setup {
            cluster,
            upstream_super,
            _bins: bins,
            _dir: dir,
            label,
        })
    }

    fn tenant(&self, name: &str) -> Kubectl {
        Kubectl::new(&std::fs::read_to_string(self.cluster.tenant_kubeconfig(name)).unwrap())
    }

    fn super_admin(&self) -> Kubectl {
        Kubectl::new(&std::fs::read_to_string(self.cluster.super_kubeconfig()).unwrap())
    }

    /// Logs of every upstream process (super and tenants) for a failure message.
    fn logs(&self) -> String {
        let mut out = self
            .upstream_super
            .as_ref()
            .map(UpstreamSuper::log_tails)
            .unwrap_or_default();
        out.push_str(&tenant_log_tails(self.cluster.dir()));
        out
    }
}

/// The last lines of the logs of tenant control planes on upstream binaries.
fn tenant_log_tails(vc_dir: &std::path::Path) -> String {
    let mut out = String::new();
    for tenant in std::fs::read_dir(vc_dir.join("tenants"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for log in std::fs::read_dir(tenant.path().join("logs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(log.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(8)..].join("\n");
            out.push_str(&format!("--- {}\n{tail}\n", log.path().display()));
        }
    }
    out
}

/// Polls `f` (blocking) until it returns `Ok`, panicking with the last `Err` after `secs`.
fn wait<T>(what: &str, secs: u64, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => {
                panic!("timed out after {secs}s waiting for {what}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn wait_running(k: &Kubectl, pod: &str) {
    wait(&format!("pod {pod} Running"), 120, || {
        let (ok, out, err) = k.run(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]);
        if ok && out == "Running" {
            Ok(())
        } else {
            Err(format!("{out}{err}"))
        }
    });
}

/// The super copies of tenant `vc`'s objects of `resource` (`name namespace` per line).
fn super_copies(sup: &Kubectl, resource: &str, vc: &str) -> Vec<(String, String)> {
    let out = sup.ok(&[
        "get",
        resource,
        "-A",
        "-l",
        &format!("tenancy.x-k8s.io/vcname={vc}"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.namespace}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, ns)| (n.to_string(), ns.to_string()))
        .collect()
}

/// A jsonpath of one object.
fn get(k: &Kubectl, args: &[&str], path: &str) -> String {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    let jp = format!("jsonpath={path}");
    a.extend(["-o", &jp]);
    k.ok(&a)
}

/// Pods run in the super cluster and report their status, events and placement back.
fn pods_reach_the_super_cluster(s: &Setup, alpha: &Kubectl, beta: &Kubectl) {
    for k in [alpha, beta] {
        k.ok(&[
            "run",
            "app",
            "--image=nginx",
            "--port=8080",
            "--restart=Never",
        ]);
    }
    wait_running(alpha, "app");
    wait_running(beta, "app");
    let sup = s.super_admin();
    let copies = super_copies(&sup, "pods", "alpha");
    let Some((_, super_ns)) = copies.iter().find(|(n, _)| n == "app") else {
        panic!("alpha's pod app has no super copy: {copies:?}")
    };
    // Status, IP and node come from the super pod.
    let tenant_view = get(
        alpha,
        &["pod", "app"],
        "{.status.podIP} {.spec.nodeName} {.status.conditions[?(@.type==\"Ready\")].status}",
    );
    let super_view = get(
        &sup,
        &["pod", "app", "-n", super_ns],
        "{.status.podIP} {.spec.nodeName} {.status.conditions[?(@.type==\"Ready\")].status}",
    );
    assert_eq!(tenant_view, super_view);
    assert!(tenant_view.ends_with(" True"), "{tenant_view}");
    let node = tenant_view
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    // The tenant sees the node as a virtual node.
    let labels = get(alpha, &["node", &node], "{.metadata.labels}");
    assert!(
        labels.contains("\"tenancy.x-k8s.io/virtualnode\":\"true\""),
        "{labels}"
    );
    // ... Ready and schedulable as far as tenant tooling can tell (no not-ready taint that
    // no tenant controller would ever lift).
    let taints = get(alpha, &["node", &node], "{.spec.taints}");
    assert!(!taints.contains("not-ready"), "{taints}");
    // The super pod says whose it is.
    let ann = get(
        &sup,
        &["pod", "app", "-n", super_ns],
        "{.metadata.annotations}",
    );
    assert!(
        ann.contains("\"tenancy.x-k8s.io/namespace\":\"default\""),
        "{ann}"
    );

    // The scheduler's and kubelet's events reach the tenant, named in the tenant's terms.
    wait("Scheduled and Started events", 60, || {
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
            Ok(())
        } else {
            Err(events)
        }
    });
}

/// logs -f, logs, exec, attach and port-forward through vn-agent.
fn kubelet_api_through_vn_agent(alpha: &Kubectl, beta: &Kubectl) {
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
}

/// A tenant service gets a super service, whose clusterIP comes back as an annotation.
fn services_get_the_super_cluster_ip(s: &Setup, alpha: &Kubectl) {
    alpha.ok(&["expose", "pod", "app", "--port=80", "--target-port=8080"]);
    let sup = s.super_admin();
    let ip = wait("the super clusterIP on the tenant service", 60, || {
        let ann = get(
            alpha,
            &["service", "app"],
            "{.metadata.annotations.transparency\\.tenancy\\.x-k8s\\.io/clusterIP}",
        );
        if ann.is_empty() {
            Err("no annotation yet".into())
        } else {
            Ok(ann)
        }
    });
    let copies = super_copies(&sup, "services", "alpha");
    let Some((_, ns)) = copies.iter().find(|(n, _)| n == "app") else {
        panic!("no super service: {copies:?}")
    };
    assert_eq!(
        get(&sup, &["service", "app", "-n", ns], "{.spec.clusterIP}"),
        ip
    );
}

/// Deleting tenant objects deletes their super copies.
fn deletions_reach_the_super_cluster(s: &Setup, alpha: &Kubectl) {
    let sup = s.super_admin();
    alpha.ok(&["delete", "service", "app", "--wait=false"]);
    alpha.ok(&["delete", "pod", "app", "late", "--wait=false"]);
    wait("alpha's super pods and service gone", 90, || {
        let pods = super_copies(&sup, "pods", "alpha");
        let services = super_copies(&sup, "services", "alpha")
            .into_iter()
            .filter(|(n, _)| n == "app")
            .collect::<Vec<_>>();
        if pods.is_empty() && services.is_empty() {
            Ok(())
        } else {
            Err(format!("pods {pods:?}, services {services:?}"))
        }
    });
    wait("alpha's pods gone", 90, || {
        let out = alpha.ok(&["get", "pods", "-o", "name"]);
        if out.trim().is_empty() {
            Ok(())
        } else {
            Err(out)
        }
    });
}

/// Runs blocking steps (kubectl) on this worker thread while the other workers serve the
/// instance; on a failure, prints the logs of every upstream process and fails.
fn steps(s: &Setup, test: &str, f: impl FnOnce()) {
    let result = tokio::task::block_in_place(|| std::panic::catch_unwind(AssertUnwindSafe(f)));
    if let Err(panic) = result {
        say(&format!("FAIL {test} ({}); logs:\n{}", s.label, s.logs()));
        std::panic::resume_unwind(panic);
    }
}

/// Every scenario, in order, against one instance.
async fn scenarios(test: &str, sup: SuperKind, tenants: TenantKind) {
    let Some(mut s) = Box::pin(Setup::start(test, sup, tenants)).await else {
        return;
    };
    let t0 = Instant::now();
    let alpha = s.tenant("alpha");
    let beta = s.tenant("beta");
    steps(&s, test, || {
        pods_reach_the_super_cluster(&s, &alpha, &beta);
        kubelet_api_through_vn_agent(&alpha, &beta);
        services_get_the_super_cluster_ip(&s, &alpha);
    });

    // A syncer that was down catches up: a pod created and one deleted meanwhile.
    s.cluster.stop_syncer().await;
    steps(&s, test, || {
        alpha.ok(&["run", "late", "--image=nginx", "--restart=Never"]);
        beta.ok(&["delete", "pod", "app", "--wait=false"]);
    });
    Box::pin(s.cluster.start_syncer()).await.unwrap();
    steps(&s, test, || {
        wait_running(&alpha, "late");
        let sup = s.super_admin();
        wait("beta's super pod gone after the syncer restart", 90, || {
            let pods = super_copies(&sup, "pods", "beta");
            if pods.is_empty() {
                Ok(())
            } else {
                Err(format!("{pods:?}"))
            }
        });
        deletions_reach_the_super_cluster(&s, &alpha);
        virtual_cluster_deletion(&s);
    });
    say(&format!(
        "PASS {test} ({}): scenarios took {:.1}s",
        s.label,
        t0.elapsed().as_secs_f64()
    ));
    s.cluster.shutdown().await;
}

/// Deleting a VirtualCluster removes its super namespaces (root included).
fn virtual_cluster_deletion(s: &Setup) {
    let sup = s.super_admin();
    sup.ok(&[
        "delete",
        "virtualcluster",
        "beta",
        "-n",
        "default",
        "--wait=false",
    ]);
    wait("beta's super namespaces gone", 120, || {
        let out = sup.ok(&[
            "get",
            "namespaces",
            "-l",
            "tenancy.x-k8s.io/vcname=beta",
            "-o",
            "name",
        ]);
        let vc = sup.run(&[
            "get",
            "virtualcluster",
            "beta",
            "-n",
            "default",
            "-o",
            "name",
        ]);
        if out.trim().is_empty() && !vc.0 {
            Ok(())
        } else {
            Err(format!("namespaces: {out}; VirtualCluster: {}", vc.1))
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_chain_embedded_super_embedded_tenants() {
    scenarios(
        "full_chain_embedded_super_embedded_tenants",
        SuperKind::Embedded,
        TenantKind::Embedded,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_chain_upstream_super_embedded_tenants() {
    scenarios(
        "full_chain_upstream_super_embedded_tenants",
        SuperKind::Upstream,
        TenantKind::Embedded,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_chain_embedded_super_upstream_tenants() {
    scenarios(
        "full_chain_embedded_super_upstream_tenants",
        SuperKind::Embedded,
        TenantKind::Upstream,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_chain_upstream_super_upstream_tenants() {
    scenarios(
        "full_chain_upstream_super_upstream_tenants",
        SuperKind::Upstream,
        TenantKind::Upstream,
    )
    .await;
}
