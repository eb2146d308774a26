//! Shared plumbing for the end-to-end suites (not every suite uses every helper).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use apiserver::{ServerBuilder, ServerHandle};
use common::pki::{Ca, LeafSpec, Validity};

/// An embedded API server whose kubelet proxy trusts, and is trusted by, a simulated node pool.
pub struct SimCluster {
    pub server: ServerHandle,
    pub nodes: nodesim::NodesimHandle,
}

impl SimCluster {
    pub async fn start(nodes: usize) -> SimCluster {
        common::process::install_crypto_provider();
        let ca = Ca::generate("kubelet-client-ca", Validity::Unlimited).unwrap();
        let client = ca
            .issue(
                &LeafSpec::client("kube-apiserver-kubelet-client")
                    .with_organizations(["system:masters"]),
            )
            .unwrap();
        let server = ServerBuilder::new()
            .kubelet_client_cert(client.cert_pem, client.key_pem)
            .start()
            .await
            .unwrap();
        let mut cfg =
            nodesim::NodesimConfig::new(server.kube_config(), nodes, ca.cert_pem().to_string());
        cfg.mock.start_delay = std::time::Duration::ZERO;
        let nodes = nodesim::start(cfg).await.unwrap();
        nodes
            .wait_ready(std::time::Duration::from_secs(30))
            .await
            .unwrap();
        SimCluster { server, nodes }
    }
}

/// The machine's kubectl with a kubeconfig of its own and an isolated HOME (discovery cache).
pub struct Kubectl {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn new(kubeconfig_yaml: &str) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml).unwrap();
        Kubectl { dir, kubeconfig }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        c.env("HOME", self.dir.path());
        c
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("kubectl on PATH");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs kubectl expecting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(
            ok,
            "kubectl {} failed:\nstdout: {out}\nstderr: {err}",
            args.join(" ")
        );
        out
    }

    /// Runs kubectl with stdin; returns (success, stdout, stderr).
    pub fn run_stdin(&self, args: &[&str], input: &str) -> (bool, String, String) {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl on PATH");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        let out = child.wait_with_output().expect("kubectl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs kubectl with stdin.
    pub fn ok_stdin(&self, args: &[&str], input: &str) -> String {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Polls `f` until it returns `Some` or `secs` pass.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met within {secs}s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a line to the test log even when the harness captures output, so that CI logs say
/// which backends a test used and why one skipped.
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// One observed step of a parity scenario: what was done, and what came back.
pub type Step = (String, String);

/// Records a kubectl outcome `(ok, stdout, stderr)` under `label`.
pub fn record(steps: &mut Vec<Step>, label: &str, (ok, out, err): (bool, String, String)) {
    steps.push((
        label.to_string(),
        format!("ok={ok}\n{}{}", out.trim(), err.trim()),
    ));
}

/// Asserts two transcripts are equal, naming every step that differs.
pub fn compare(embedded: &[Step], upstream: &[Step]) {
    let differing: Vec<String> = embedded
        .iter()
        .zip(upstream)
        .filter(|(e, u)| e != u)
        .map(|(e, u)| {
            format!(
                "step {:?}:\n  embedded: {:?}\n  upstream: {:?}",
                e.0, e.1, u.1
            )
        })
        .collect();
    assert!(differing.is_empty(), "{}", differing.join("\n"));
    assert_eq!(embedded.len(), upstream.len());
}

/// Runs the blocking kubectl `scenario` against `kubeconfig_yaml` off the async runtime and
/// prints every step it recorded.
pub async fn run_scenario<F>(kubeconfig_yaml: String, scenario: F) -> Vec<Step>
where
    F: FnOnce(&str) -> Vec<Step> + Send + 'static,
{
    let steps = tokio::task::spawn_blocking(move || scenario(&kubeconfig_yaml))
        .await
        .unwrap();
    for (label, out) in &steps {
        say(&format!("{label}: {out}"));
    }
    steps
}

/// What the scenario recorded under `label`.
pub fn step(steps: &[Step], label: &str) -> String {
    steps
        .iter()
        .find(|s| s.0 == label)
        .map(|s| s.1.clone())
        .unwrap_or_else(|| panic!("the scenario recorded no step {label:?}"))
}
